# The learning tests' common part (sourced after lib.sh): the shared synthetic corpus, sharded
# (tests/e2e/make_learning_corpus.sh, a ctest fixture; made here when a test runs on its own); a
# tiny recipe trained with mpirun -np 2; vlm-eval on the held-out questions; the bars checked.
corpus=$build_dir/test-data/learning-corpus
[ -f "$corpus/complete" ] \
  || bash "$src_dir/tests/e2e/make_learning_corpus.sh" "$build_dir" "$src_dir" \
  || fail "the learning corpus could not be made"

# learns RECIPE COLOUR_BAR POSITION_BAR SHAPE_BAR MAX_SECONDS: trains recipes/tiny/RECIPE.yaml on
# 2 ranks, evaluates the final model, and fails below a bar (a SHAPE_BAR of 0 only reports it).
learns() {
  local recipe=$1 start seconds colour position shape
  start=$(date +%s)
  mpirun --oversubscribe -np 2 "$bin/vlm-worker" --recipe "$src_dir/recipes/tiny/$recipe.yaml" \
    --set data.corpus_dir="$corpus" --set run_dir="$work/run" > "$work/train.log" 2>&1 \
    || { tail -n 30 "$work/train.log"; fail "training failed"; }
  seconds=$(( $(date +%s) - start ))
  # Each stage's speed and where its step time went, so that CI logs carry them.
  grep -oE "stage '[^']*' (done in|on rank 0:).*" "$work/train.log" || true
  # 900 of the 1,800 held-out questions (they alternate colour, shape, position: 300 each) measure
  # a 0.90 bar to about +-3 points, in about 6 s.
  "$bin/vlm-eval" --run "$work/run" --limit 900 > "$work/eval.txt" || fail "vlm-eval failed"
  cat "$work/eval.txt"
  test -s "$work/run/metrics.jsonl" || fail "no metrics.jsonl"
  colour=$(accuracy_of colour "$work/eval.txt")
  position=$(accuracy_of position "$work/eval.txt")
  shape=$(accuracy_of shape "$work/eval.txt")
  echo "$recipe: colour $colour position $position shape $shape, trained in $seconds s"
  at_least "$colour" "$2" || fail "colour accuracy $colour < $2"
  at_least "$position" "$3" || fail "position accuracy $position < $3"
  at_least "$shape" "$4" || fail "shape accuracy $shape < $4"
  [ "$seconds" -le "$5" ] || fail "the run took $seconds s (> $5 s)"
}
