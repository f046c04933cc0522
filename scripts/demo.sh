#!/usr/bin/env bash
# The main job on the built-in tiny default: install, build, synthesize a corpus, shard it with
# mpirun, train the two-stage LLaVA recipe from the shards, evaluate it on held-out questions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
bash scripts/build.sh
bin=${VLM_BUILD_DIR:-$root/build}/bin
recipe=recipes/tiny/llava_two_stage.yaml
run_dir=${VLM_DEMO_RUN_DIR:-runs/demo_llava_two_stage}

echo "== machine"
"$bin/vlm-info"

echo "== corpus"
if [ ! -f corpus/tiny/synth.json ]; then
  "$bin/vlm-synth" --out corpus/tiny --seed 1
else
  echo "corpus/tiny exists (delete it to synthesize again)"
fi

echo "== shards (mpirun -np 2 vlm-shard)"
if [ ! -f corpus/tiny/shards/mix/index.json ]; then
  bash scripts/shard_tiny_corpus.sh "$bin" corpus/tiny
else
  echo "corpus/tiny/shards exist (delete them to shard again)"
fi

echo "== train ($recipe -> $run_dir)"
rm -rf "$run_dir"
start=$(date +%s)
"$bin/vlm-worker" --recipe "$recipe" --set run_dir="$run_dir" "$@"
echo "trained in $(( $(date +%s) - start )) s; metrics in $run_dir/metrics.jsonl"

echo "== evaluate (held-out images)"
"$bin/vlm-eval" --run "$run_dir" --verbose
