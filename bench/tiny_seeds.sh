#!/usr/bin/env bash
# Does the tiny LLaVA two-stage recipe learn on any corpus, not only on the one the tests use?
# For each corpus seed (default 1 2 3 4 5): vlm-synth --seed S, the shards as the demo makes them,
# recipes/tiny/llava_two_stage.yaml on 2 ranks (the demo's command without its preemption), then
# vlm-eval on that corpus's held-out questions. Prints colour / position / shape accuracy, the
# final loss and the training time per seed, and writes bench/results/tiny_seeds.json.
# Takes about 4 minutes a seed on 2 idle cores.
#   bash bench/tiny_seeds.sh [SEED ...]
source "$(dirname "$0")/lib.sh"
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5)
recipe=$root/recipes/tiny/llava_two_stage.yaml

accuracy_of() { awk -v c="$1" '$1 == "accuracy" && $2 == c { print $3 }' "$2"; }

rows=()
printf '%-5s %7s %9s %6s %11s %9s\n' seed colour position shape final_loss seconds
for seed in "${seeds[@]}"; do
  corpus=$work/corpus-$seed
  "$bin/vlm-synth" --out "$corpus" --seed "$seed" > /dev/null
  bash "$root/scripts/shard_tiny_corpus.sh" "$bin" "$corpus" > /dev/null
  start=$(date +%s)
  mpirun -np 2 "$bin/vlm-worker" --recipe "$recipe" --set data.corpus_dir="$corpus" \
    --set run_dir="$work/run-$seed" --progress plain > "$work/train-$seed.log" 2>&1 \
    || { tail -n 20 "$work/train-$seed.log"; echo "seed $seed: training failed" >&2; exit 1; }
  seconds=$(( $(date +%s) - start ))
  "$bin/vlm-eval" --run "$work/run-$seed" > "$work/eval-$seed.txt"
  colour=$(accuracy_of colour "$work/eval-$seed.txt")
  position=$(accuracy_of position "$work/eval-$seed.txt")
  shape=$(accuracy_of shape "$work/eval-$seed.txt")
  loss=$(tail -n 1 "$work/run-$seed/metrics.jsonl" | /usr/bin/python3 -c \
    'import json, sys; print("%.4f" % json.load(sys.stdin)["loss"])')
  printf '%-5s %7s %9s %6s %11s %9s\n' "$seed" "$colour" "$position" "$shape" "$loss" "$seconds"
  rows+=("{\"seed\": $seed, \"colour\": $colour, \"position\": $position, \"shape\": $shape, \"final_loss\": $loss, \"train_seconds\": $seconds}")
done

{
  echo "{\"recipe\": \"recipes/tiny/llava_two_stage.yaml\", \"ranks\": 2, \"date\": \"$(date -u +%F)\","
  echo " \"commit\": \"$(git -C "$root" rev-parse --short HEAD)\", \"seeds\": ["
  for i in "${!rows[@]}"; do
    [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && echo "  ${rows[$i]}" || echo "  ${rows[$i]},"
  done
  echo "]}"
} > "$results/tiny_seeds.json"
echo "wrote $results/tiny_seeds.json"
