#!/usr/bin/env bash
# The loader against the trainer: batches/s the loader prepares for the tiny recipe's finetune
# stage (32x32 images, batch 32, vicuna_v1, pad, modality_length) from shards, and from the JSON
# corpus for reference, next to the rate at which vlm-worker consumes batches in that stage
# (median step time of a short run). Issue 3's target: loader >= 5x the trainer's rate.
# Prints a table and writes bench/results/loader.json. VLM_BENCH_BATCHES (default 300) batches
# per loader run, best of 3.
source "$(dirname "$0")/lib.sh"
recipe=$root/recipes/tiny/llava_two_stage.yaml
batches=${VLM_BENCH_BATCHES:-300}
runs=3

# The demo's corpus (vlm-synth defaults) and its instruction file as shards.
"$bin/vlm-synth" --out "$work/c" > /dev/null
mpirun --oversubscribe -np 2 "$bin/vlm-shard" --input "$work/c/llava_v1_5_mix665k.json" \
  --image-root "$work/c" --out "$work/c/shards/mix" > /dev/null 2>&1

# loader_rate SOURCE_SET THREADS: the best batches/s line of $runs runs.
loader_rate() {
  local best_line="" best=0 line rate
  for _ in $(seq $runs); do
    line=$("$bin/vlm-bench-loader" --recipe "$recipe" --stage 1 --batches "$batches" \
      --set data.corpus_dir="$work/c" --set "$1" --set stages.1.data.loader_threads="$2")
    rate=$(echo "$line" | "$VLM_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["batches_per_s"])')
    if [ "$(echo "$rate > $best" | bc -l)" = 1 ]; then best=$rate; best_line=$line; fi
  done
  echo "$best_line"
}
shards_1=$(loader_rate stages.1.data.shards=shards/mix 1)
shards_2=$(loader_rate stages.1.data.shards=shards/mix 2)
json_1=$(loader_rate stages.1.data.json=llava_v1_5_mix665k.json 1)

# The trainer: 30 finetune steps of 32 (stage 1 cut to one step), from the shards.
"$bin/vlm-worker" --recipe "$recipe" --set data.corpus_dir="$work/c" --set run_dir="$work/run" \
  --set stages.0.training.max_steps=1 --set stages.1.training.max_steps=30 \
  --set stages.1.data.shards=shards/mix > "$work/train.log" 2>&1 ||
  { tail -n 20 "$work/train.log"; exit 1; }
trainer_step_s=$("$VLM_PYTHON" - "$work/run/metrics.jsonl" <<'PY'
import json, statistics, sys
steps = [r["step_time_s"] for r in map(json.loads, open(sys.argv[1])) if r.get("stage") == "finetune"]
print(statistics.median(steps[1:]))  # the first step pays for warm-up
PY
)

"$VLM_PYTHON" - "$results/loader.json" "$trainer_step_s" "$shards_1" "$shards_2" "$json_1" <<'PY'
import json, sys
out, step_s = sys.argv[1], float(sys.argv[2])
rows = [json.loads(x) for x in sys.argv[3:]]
trainer = 1.0 / step_s
print(f"\n{'tiny finetune stage, batch 32':<40} {'batches/s':>10} {'samples/s':>10} {'vs trainer':>11}")
for r in rows:
    name = f"loader, {r['source']}, {r['loader_threads']} thread(s)"
    print(f"{name:<40} {r['batches_per_s']:>10.1f} {r['samples_per_s']:>10.0f} {r['batches_per_s'] / trainer:>10.1f}x")
print(f"{'trainer (vlm-worker, median step)':<40} {trainer:>10.2f} {32 * trainer:>10.0f} {1:>10.1f}x")
print(f"(loader: {rows[0]['batches']} batches after 5 of warm-up, best of 3; trainer: median "
      f"step_time_s of 29 finetune steps, {step_s:.3f} s/step)")
json.dump({"trainer_step_s": step_s, "trainer_batches_per_s": trainer, "loader": rows,
           "target_ratio": 5.0,
           "shards_ratio": rows[0]["batches_per_s"] / trainer}, open(out, "w"), indent=1)
print(f"wrote {out}")
PY
