#!/usr/bin/env bash
# The tiny LLaVA recipe with a LoRA stage 2 learns: trained with mpirun -np 2, vlm-eval on held-out
# synthetic images answers colour and position >= 90% and shape >= 80% (the LLaVA recipes' bar),
# both stages within 15 minutes on this 2-core machine.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/learn_lib.sh"
learns llava_two_stage_lora 0.90 0.90 0.80 900
grep -q '"stage":"finetune"' "$work/run/metrics.jsonl" || fail "no finetune steps in metrics"
echo PASS
