#!/usr/bin/env bash
# The main job on the built-in tiny default: install, build, synthesize a corpus, shard it with
# mpirun, train the two-stage LLaVA recipe from the shards on 2 ranks, preempt it mid-run
# (SIGTERM: it checkpoints and exits 75), resume it, evaluate it on held-out questions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
source scripts/preempt.sh
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

echo "== train with mpirun -np 2 ($recipe -> $run_dir), checkpoints every 100 steps"
rm -rf "$run_dir"
train=(mpirun -np 2 "$bin/vlm-worker" --recipe "$recipe" --set run_dir="$run_dir"
  --set checkpoint.every_steps=100 "$@")
start=$(date +%s)
"${train[@]}" &
job=$!
# Preempt it a while into stage 2, as a cluster would: SIGTERM to every rank. The ranks agree at
# the next step boundary, save, and exit with 75 ("requeue me").
until grep -q '"step":250,"stage":"finetune"' "$run_dir/metrics.jsonl" 2>/dev/null; do
  kill -0 "$job" 2>/dev/null || break
  sleep 1
done
# Only this job's ranks (mpirun's children): other jobs' vlm-worker processes are not ours.
preempt_job "$job"
code=0
wait "$job" || code=$?
echo "vlm-worker exited with $code (75: preempted, state saved)"
"$bin/vlm-ckpt" list "$run_dir"

echo "== resume: the same command picks up the newest valid checkpoint"
"${train[@]}"
echo "trained in $(( $(date +%s) - start )) s; metrics in $run_dir/metrics.jsonl"

echo "== evaluate (held-out images)"
"$bin/vlm-eval" --run "$run_dir" --verbose
