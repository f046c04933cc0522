#!/usr/bin/env bash
# The tiny VDEP recipe learns: hybrid-batch pre-training then LLaVA's instruction tuning, trained
# with mpirun -np 2; vlm-eval answers colour and position >= 90% within 15 minutes (shape is
# reported), and stage 1 logged both loss terms, the image term falling.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/learn_lib.sh"
learns vdep 0.90 0.90 0 900
/usr/bin/python3 - "$work/run/metrics.jsonl" <<'PY' || fail "VDEP's loss terms"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pre = [r for r in rows if r["stage"] == "pretrain"]
assert pre and all("loss/text_ce" in r and "loss/image_l2" in r for r in pre), "terms missing"
first, last = pre[0]["loss/image_l2"], pre[-1]["loss/image_l2"]
print(f"image_l2 {first:.4f} -> {last:.4f} over {len(pre)} steps")
assert last < first, "the image term did not fall"
PY
echo PASS
