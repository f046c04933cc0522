#!/usr/bin/env bash
# The tiny two-stage LLaVA recipe learns: after training, vlm-eval on held-out synthetic images
# answers the colour question >= 90% and the shape question >= 80% of the time, and the run
# (both stages) takes at most 10 minutes on this 2-core machine.
source "$(dirname "$0")/lib.sh"

"$bin/vlm-synth" --out "$work/corpus" --seed 11 >/dev/null
bash "$src_dir/scripts/shard_tiny_corpus.sh" "$bin" "$work/corpus" > "$work/shard.log" 2>&1 \
  || { tail -n 20 "$work/shard.log"; fail "vlm-shard failed"; }
start=$(date +%s)
"$bin/vlm-worker" --recipe "$src_dir/recipes/tiny/llava_two_stage.yaml" \
  --set data.corpus_dir="$work/corpus" --set run_dir="$work/run" > "$work/train.log" 2>&1 \
  || { tail -n 30 "$work/train.log"; fail "training failed"; }
seconds=$(( $(date +%s) - start ))
"$bin/vlm-eval" --run "$work/run" > "$work/eval.txt" || fail "vlm-eval failed"
cat "$work/eval.txt"
echo "trained in $seconds s"

test -s "$work/run/metrics.jsonl" || fail "no metrics.jsonl"
grep -q '"stage":"pretrain"' "$work/run/metrics.jsonl" || fail "no pretrain steps in metrics"
grep -q '"stage":"finetune"' "$work/run/metrics.jsonl" || fail "no finetune steps in metrics"
colour=$(accuracy_of colour "$work/eval.txt")
shape=$(accuracy_of shape "$work/eval.txt")
at_least "$colour" 0.90 || fail "colour accuracy $colour < 0.90"
at_least "$shape" 0.80 || fail "shape accuracy $shape < 0.80"
[ "$seconds" -le 600 ] || fail "the tiny two-stage run took $seconds s (> 600 s)"
echo "PASS: colour $colour shape $shape in $seconds s"
