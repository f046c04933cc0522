#!/usr/bin/env bash
# The tiny VoRA recipe learns: trained with mpirun -np 2 (pre-training with block-wise
# distillation and text-only samples, LoRA merged and the teacher dropped, then fine-tuning),
# the encoder-free final model answers colour and position >= 90% under vlm-eval within 15
# minutes (shape is reported); the distillation of each block was logged and fell.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/learn_lib.sh"
learns vora 0.90 0.90 0 900
[ ! -d "$work/run/final/vision" ] || fail "the final model still has the teacher (final/vision)"
/usr/bin/python3 - "$work/run/metrics.jsonl" <<'PY' || fail "VoRA's loss terms"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pre = [r for r in rows if r["stage"] == "pretrain"]
for block in ("distill_block_1", "distill_block_2"):
    first, last = pre[0]["loss/" + block], pre[-1]["loss/" + block]
    print(f"{block}: {first:.4f} -> {last:.4f}")
    assert last < first, block + " did not fall"
PY
echo PASS
