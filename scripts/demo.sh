#!/usr/bin/env bash
# The main job on the built-in tiny default: install, build, synthesize a corpus, train the
# two-stage LLaVA recipe, evaluate it on held-out questions.
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

echo "== train ($recipe -> $run_dir)"
rm -rf "$run_dir"
start=$(date +%s)
"$bin/vlm-worker" --recipe "$recipe" --set run_dir="$run_dir" "$@"
echo "trained in $(( $(date +%s) - start )) s; metrics in $run_dir/metrics.jsonl"

echo "== evaluate (held-out images)"
"$bin/vlm-eval" --run "$run_dir" --verbose
