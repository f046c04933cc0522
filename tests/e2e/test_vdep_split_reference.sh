#!/usr/bin/env bash
# VDEP's exact split (vdep.split exact, the default) against an independent reading of its rule:
# the tiny VDEP recipe's stage 1, on 2 ranks (micro batch 3, 2 accumulation steps) and on 3 ranks
# (micro batch 4), each traced with VLM_TRACE_ROWS; tests/reference/vdep_split.py recomputes
# from the seed and the caption file which sample, in which mode, every global position must hold,
# that each global batch has exactly round(B r / (1 + r)) VDEP rows (6 of 12, then 5 of 12 at
# vdep.ratio 0.7) and that only LLaVA rows carry labels. The two splits of the batch log the same
# loss terms; vdep.split shuffled with vdep.text_loss_on_vdep_rows (the form before issue 19)
# still runs, its VDEP rows labelled and their count varying.
source "$(dirname "$0")/lib.sh"
"$bin/vlm-synth" --out "$work/r" --seed 5 --captions 40 --instructions 16 --vora 8 --eval 1 \
  --threads 1 > /dev/null
captions=blip_laion_cc_sbu_558k.json

# run LABEL RANKS MICRO [--set ...]: stage 1 only, 8 steps of 12 (past the end of the LLaVA-mode
# stream's first pass over the 40 captions), read from the caption file itself so that a corpus
# index is its place in that file.
run() {
  local label=$1 ranks=$2 micro=$3
  shift 3
  VLM_TRACE_ROWS="$work/$label" mpirun --oversubscribe -np "$ranks" "$bin/vlm-worker" \
    --recipe "$src_dir/recipes/tiny/vdep.yaml" --set data.corpus_dir="$work/r" \
    --set run_dir="$work/$label" --set training.num_threads=1 \
    --set stages.0.data.json=$captions --set stages.0.data.image_root=images \
    --set stages.1.data.json=llava_v1_5_mix665k.json \
    --set "stages.0.training={global_batch_size: 12, micro_batch_size: $micro, max_steps: 8}" \
    --stop-after pretrain --progress plain "$@" > "$work/$label.log" 2>&1 \
    || { tail -n 30 "$work/$label.log"; fail "$label failed"; }
}

reference() {  # reference LABEL RATIO
  /usr/bin/python3 "$src_dir/tests/reference/vdep_split.py" "$work/r/$captions" 42 12 "$2" \
    pretrain "$work/$1".rank*.jsonl || fail "$1: the split differs from the rule"
}

run two_ranks 2 3
reference two_ranks 1.0
run three_ranks 3 4
reference three_ranks 1.0
/usr/bin/python3 - "$work/two_ranks/metrics.jsonl" "$work/three_ranks/metrics.jsonl" <<'PY' \
  || fail "the loss terms depend on the split of the batch"
import json, sys
runs = [[json.loads(l) for l in open(p)] for p in sys.argv[1:]]
assert len(runs[0]) == len(runs[1]) == 8, [len(r) for r in runs]
for a, b in zip(*runs):
    for key in ("loss", "loss/text_ce", "loss/image_l2"):
        assert abs(a[key] - b[key]) <= 1e-5 * abs(a[key]), (a["step"], key, a[key], b[key])
first, last = runs[0][0], runs[0][-1]
print(f"2 ranks x 3 x 2 == 3 ranks x 4: text_ce {first['loss/text_ce']:.4f} -> "
      f"{last['loss/text_ce']:.4f}, image_l2 {first['loss/image_l2']:.4f} -> "
      f"{last['loss/image_l2']:.4f}")
PY

run ratio 2 3 --set stages.0.vdep.ratio=0.7
reference ratio 0.7

run shuffled 2 3 --set stages.0.vdep.split=shuffled --set stages.0.vdep.text_loss_on_vdep_rows=true
/usr/bin/python3 - "$work"/shuffled.rank*.jsonl <<'PY' || fail "vdep.split shuffled"
import json, sys
from collections import Counter
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
assert len(rows) == 96, len(rows)
vdep = Counter(r["position"] // 12 for r in rows if r["vdep"])
assert all(r["label_tokens"] > 0 for r in rows), "a row without labels"
counts = [vdep.get(b, 0) for b in range(8)]
assert len(set(counts)) > 1, f"every batch has the same VDEP count {counts}"
print(f"shuffled: VDEP rows per batch {counts}, every row labelled")
PY
echo PASS
