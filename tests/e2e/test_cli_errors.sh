#!/usr/bin/env bash
# The mains turn recipe errors into a message naming the key or file, and exit code 2.
source "$(dirname "$0")/lib.sh"
recipe=$src_dir/recipes/tiny/llava_two_stage.yaml

expect_usage_error() {  # expect_usage_error TEXT ARGS...: exit 2 and TEXT in stderr
  local text=$1; shift
  set +e
  "$bin/vlm-worker" "$@" > "$work/out.txt" 2> "$work/err.txt"
  local code=$?
  set -e
  [ "$code" -eq 2 ] || fail "exit $code (want 2) for: $*; stderr: $(cat "$work/err.txt")"
  grep -qF -- "$text" "$work/err.txt" || fail "stderr lacks '$text': $(cat "$work/err.txt")"
}

expect_usage_error "optimizer.lr" --recipe "$recipe" --set optimizer.lr=-1
expect_usage_error "optimizer.lrr" --recipe "$recipe" --set optimizer.lrr=1
expect_usage_error "no_such_recipe.yaml" --recipe "$work/no_such_recipe.yaml"

# A missing corpus is named by its key and folder before anything is written.
expect_usage_error "stages[0].data.shards is shards/captions: $work/none/shards/captions has no index.json" \
  --recipe "$recipe" --set data.corpus_dir="$work/none" --set run_dir="$work/run"
[ ! -e "$work/run" ] || fail "a run directory was made for a missing corpus"

# A memory budget below the plan refuses to start, naming the numbers; a bad size names the flag.
"$bin/vlm-synth" --out "$work/c" --seed 1 --captions 40 --instructions 40 --vora 4 --eval 1 \
  --threads 1 > /dev/null
expect_usage_error "sharding.max_memory_per_rank_mib is 1:" --recipe "$recipe" \
  --set data.corpus_dir="$work/c" --set run_dir="$work/run" \
  --set stages.0.data.json=blip_laion_cc_sbu_558k.json --set stages.0.data.image_root=images \
  --set stages.1.data.json=llava_v1_5_mix665k.json --max-memory-per-rank 1MiB
grep -q "optimizer state" "$work/err.txt" || fail "the refusal lacks the plan: $(cat "$work/err.txt")"
expect_usage_error "--max-memory-per-rank 1XB" --recipe "$recipe" --max-memory-per-rank 1XB

# --dump-recipe prints the resolved recipe, with the override applied.
"$bin/vlm-worker" --recipe "$recipe" --set training.seed=1234 --dump-recipe > "$work/dump.yaml"
grep -q "seed: 1234" "$work/dump.yaml" || fail "--dump-recipe lacks the override"
echo "PASS"
