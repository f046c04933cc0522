#!/usr/bin/env bash
# The tiny LLaVA recipe with a LoRA stage 2 learns: trained with mpirun -np 2, vlm-eval answers
# colour and position >= 80% (the LLaVA recipes' bar) within 15 minutes; shape is reported.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/learn_lib.sh"
learns llava_two_stage_lora 0.80 0.80 0 900
echo PASS
