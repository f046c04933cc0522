#!/usr/bin/env bash
# The sharded engine (ZeRO stages 1-3, vlm-bench-engine) against PyTorch DDP and DDP +
# ZeroRedundancyOptimizer over gloo (bench/engine_peer.py, on tcmalloc), in one run on this machine: the same
# model (bench/gpt_like.yaml, 20.5M parameters) and batch (4 x 128 random tokens per rank), 2
# ranks of 1 thread each, AdamW fp32; and the same two on a GPT-2-style model of the same size
# and matmul FLOPs (LayerNorm, GELU, learned positions), whose elementwise work PyTorch fuses
# better. Our rows are compared with the fastest peer row. MFU is taken against the
# single-thread fp32 matmul throughput measured at the start of the same run; bytes sent per
# rank per step (Communicator::traffic) stand beside ZeRO's figures. Prints a table and writes
# bench/results/engine.json. Targets: stage 2 >= 1.3x the fastest peer's tokens/s at MFU >= 55%;
# stage 3 lean >= 1.0x its tokens/s at < 0.5x its peak resident memory per rank. A benchmark:
# exits 0 whether they pass.
# STEPS (default 20) timed steps after WARMUP (default 3); our rows are skipped when
# $VLM_BUILD_DIR/bin/vlm-bench-engine is missing.
source "$(dirname "$0")/lib.sh"
recipe=$root/bench/gpt_like.yaml
steps=${STEPS:-20}
warmup=${WARMUP:-3}
# Other work on the machine skews every number: record the load around the run.
cut -d' ' -f1-3 /proc/loadavg > "$work/load_before"

echo "matmul, 1 thread ..." >&2
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$VLM_PYTHON" "$root/bench/matmul_peer.py" --size 2048 \
  > "$work/matmul_pytorch"
if [ -x "$bin/vlm-info" ]; then
  "$bin/vlm-info" --size 2048 --threads 1 | awk '$1 == "matmul_gflops" { print $4 }' \
    > "$work/matmul_vlmtrain"
fi

echo "PyTorch ddp, zero, gpt2_ddp, gpt2_zero ..." >&2
"$VLM_PYTHON" "$root/bench/engine_peer.py" --recipe "$recipe" --modes ddp zero gpt2_ddp gpt2_zero \
  --batch 4 --seq 128 --warmup "$warmup" --steps "$steps" > "$work/peer.jsonl"

if [ -x "$bin/vlm-bench-engine" ]; then
  # 3r, stage 3 lean: each block recomputed in backward.
  for stage in 1 2 3 3r; do
    echo "vlmtrain stage $stage ..." >&2
    extra=()
    [ "$stage" = 3r ] && extra=(--set sharding.activation_checkpointing=true)
    # --bind-to none: the PyTorch ranks are not pinned either, so neither side gets a core each
    # that the other does not.
    if ! mpirun -np 2 --bind-to none "$bin/vlm-bench-engine" --recipe "$recipe" \
        --set sharding.stage="${stage%r}" "${extra[@]}" --batch 4 --seq 128 --warmup "$warmup" --steps "$steps" \
        --json "$work/stage$stage.json" > "$work/stage$stage.log" 2>&1; then
      echo "stage $stage failed; its row is left out. Last lines:" >&2
      tail -n 5 "$work/stage$stage.log" >&2
      rm -f "$work/stage$stage.json"
    fi
  done
else
  echo "no $bin/vlm-bench-engine (set VLM_BUILD_DIR?): the stage 1-3 rows are skipped" >&2
fi
cut -d' ' -f1-3 /proc/loadavg > "$work/load_after"

"$VLM_PYTHON" - "$work" "$recipe" "$results/engine.json" "$warmup" "$steps" <<'PY'
import json, os, sys
import yaml
work, recipe_path, json_path = sys.argv[1:4]
warmup, steps = int(sys.argv[4]), int(sys.argv[5])
read = lambda name: open(os.path.join(work, name)).read().strip()
llm = yaml.safe_load(open(recipe_path))["model"]["llm"]

rows = [json.loads(line) for line in read("peer.jsonl").splitlines()]
for row in rows:
    row["name"] = row["mode"]
for stage, name in (("1", "stage 1"), ("2", "stage 2"), ("3", "stage 3"),
                    ("3r", "stage 3 lean")):
    path = os.path.join(work, f"stage{stage}.json")
    if os.path.exists(path):
        rows.append({**json.load(open(path)), "name": name})

matmul = {"pytorch": float(read("matmul_pytorch"))}
if os.path.exists(os.path.join(work, "matmul_vlmtrain")):
    matmul["vlmtrain"] = float(read("matmul_vlmtrain"))
# Both go through the same OpenBLAS; the higher one is the peak, so MFU is not flattered.
peak_gflops = max(matmul.values())

# FLOPs per token: 6 per weight that multiplies (forward 2, backward 4) for every matrix except
# the input embedding (a lookup; the untied lm_head does count), plus attention's scores and
# weighted sum, 12 * layers * seq * hidden (PaLM's formula, counting the whole causal square).
d, layers, vocab, seq = llm["hidden_size"], llm["num_layers"], llm["vocab_size"], rows[0]["seq"]
params = rows[0]["params"]
flops_per_token = 6 * (params - vocab * d) + 12 * layers * seq * d
formula = (f"MFU = (6 * (params - vocab * hidden) + 12 * layers * seq * hidden) * tokens_per_s"
           f" / (world_size * {peak_gflops} GFLOP/s of 1 thread)")

by_name = {row["name"]: row for row in rows}
peers = [row for row in rows if "mode" in row]
best = max(peers, key=lambda row: row["tokens_per_s"])
ddp = by_name["ddp"]
for row in rows:
    row["x_best_peer"] = row["tokens_per_s"] / best["tokens_per_s"]
    row["mfu"] = flops_per_token * row["tokens_per_s"] / (row["world_size"] * peak_gflops * 1e9)
    if "stage" in row:
        # ZeRO's elements per rank per step (all parameters trainable here): 2 x params x (N-1)/N
        # at stages 0-2 (all-reduce, or reduce-scatter + all-gather), 3x at stage 3; fp32.
        n = row["world_size"]
        row["zero_bytes_per_step"] = 4 * (3 if row["stage"] == 3 else 2) * row["params"] * (n - 1) / n
    if row["params"] != params and not row["name"].startswith("gpt2"):
        print(f"warning: {row['name']} has {row['params']} parameters, the peer {params}")

print(f"\n{'':<20} {'ms/step':>9} {'tokens/s':>9} {'x best':>7} {'peak MiB/rank':>14} "
      f"{'above start':>12} {'MFU':>6} {'sent MB':>8} {'ZeRO MB':>8}")
for row in rows:
    sent = (f"{row['sent_bytes_per_step'] / 1e6:>8.1f} {row['zero_bytes_per_step'] / 1e6:>8.1f}"
            if "sent_bytes_per_step" in row else f"{'':>8} {'':>8}")
    print(f"{row['name']:<20} {row['ms_per_step']:>9.1f} {row['tokens_per_s']:>9.0f} "
          f"{row['x_best_peer']:>6.2f}x {row['peak_rss_mb']:>14.0f} {row['peak_above_baseline_mb']:>12.0f} "
          f"{100 * row['mfu']:>5.1f}% {sent}")
print(f"({params:,} parameters; 2 ranks x 4 x {seq} tokens a step; {steps} steps after {warmup}; "
      f"x best: against {best['name']}, the fastest PyTorch row; gpt2_*: the GPT-2-style model; "
      f"peak MiB/rank: VmHWM during the timed steps, the larger rank; above start: minus the "
      f"resident size before the model was built; sent MB: per rank per step, ring volumes)")
allocators = sorted({row["allocator"] for row in peers if "allocator" in row})
print(f"(PyTorch ranks' allocator: {', '.join(allocators) or 'glibc'}; ours: LibTorch's CPU tensors "
      f"through sharding/caching_allocator.h on transparent huge pages)")
print(f"({formula}; {flops_per_token / 1e6:.1f} MFLOP/token; matmul 2048^3 fp32 1 thread: "
      + ", ".join(f"{k} {v} GFLOP/s" for k, v in matmul.items()) + ")")
shares = [f"{r['name']} {'/'.join(map(str, r['cpu_per_wall_per_rank']))}"
          for r in rows if "cpu_per_wall_per_rank" in r]
print(f"(load average before {read('load_before')}, after {read('load_after')}; CPU s per wall s "
      f"of the PyTorch ranks: {', '.join(shares)}; well below 1: other work shared the cores)")

def target(name, row_name, want):
    row = by_name.get(row_name)
    passed = None if row is None else want(row)
    verdict = {None: "SKIP (no row)", True: "PASS", False: "FAIL"}[passed]
    print(f"{verdict:<14} {name}")
    return {"target": name, "passed": passed}

targets = [
    target(f"stage 2 tokens/s >= 1.3x {best['name']}", "stage 2",
           lambda r: r["tokens_per_s"] >= 1.3 * best["tokens_per_s"]),
    target("stage 2 MFU >= 55% of the 1-thread matmul", "stage 2", lambda r: r["mfu"] >= 0.55),
    target(f"stage 3 lean: tokens/s >= 1.0x {best['name']} and peak MiB/rank < 0.5x its",
           "stage 3 lean",
           lambda r: r["tokens_per_s"] >= best["tokens_per_s"]
           and r["peak_rss_mb"] < 0.5 * best["peak_rss_mb"]),
] + [target(f"{name}: bytes sent within 10% of ZeRO's", name,
            lambda r: abs(r["sent_bytes_per_step"] / r["zero_bytes_per_step"] - 1) <= 0.1)
     for name in ("stage 1", "stage 2", "stage 3")]
json.dump({"model": "bench/gpt_like.yaml", "params": params, "world_size": 2,
           "fastest_peer": best["name"],
           "batch_per_rank": 4, "seq": seq, "threads_per_rank": 1,
           "warmup": warmup, "steps": steps,
           "load_average_before": read("load_before"), "load_average_after": read("load_after"),
           "matmul_gflops_1_thread": matmul, "flops_per_token": flops_per_token,
           "mfu_formula": formula, "rows": rows, "targets": targets},
          open(json_path, "w"), indent=1)
print("wrote", json_path)
PY
