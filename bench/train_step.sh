#!/usr/bin/env bash
# Training-step speed of the tiny two-stage recipe's stage 2 (batch 32, vicuna_v1 samples of ~90
# tokens): seconds per step and tokens/s from metrics.jsonl, after a warm-up. Prints a table and
# writes bench/results/train_step.json. Uses the demo's corpus/tiny (made if missing).
source "$(dirname "$0")/lib.sh"
steps=${STEPS:-60}
warmup=10
cd "$root"
[ -f corpus/tiny/llava_v1_5_mix665k.json ] || "$bin/vlm-synth" --out corpus/tiny --seed 1 >/dev/null
[ -f corpus/tiny/shards/mix/index.json ] || bash scripts/shard_tiny_corpus.sh "$bin" corpus/tiny >/dev/null
"$bin/vlm-worker" --recipe recipes/tiny/llava_two_stage.yaml --set run_dir="$work" \
  --set stages.0.training.max_steps=1 --set stages.1.training.max_steps="$steps" >/dev/null 2>&1
"$VLM_PYTHON" - "$work/metrics.jsonl" "$warmup" "$results/train_step.json" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rows = [r for r in rows if r["stage"] == "finetune"][int(sys.argv[2]):]
seconds = sum(r["step_time_s"] for r in rows) / len(rows)
tokens = sum(r["tokens"] for r in rows) / sum(r["step_time_s"] for r in rows)
print(f"{'stage':<10} {'steps':>6} {'s/step':>8} {'tokens/s':>10}")
print(f"{'finetune':<10} {len(rows):>6} {seconds:>8.3f} {tokens:>10.0f}")
json.dump({"stage": "finetune", "global_batch_size": 32, "steps_measured": len(rows),
           "seconds_per_step": seconds, "tokens_per_s": tokens}, open(sys.argv[3], "w"))
print("wrote", sys.argv[3])
PY
