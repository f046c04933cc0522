#!/usr/bin/env bash
# Peak resident memory per rank, on a model whose memory is its parameters, gradients and
# optimizer state, falls with the ZeRO stage and the world size as the memory plan predicts:
# each run's peak (above the resident size before the model was built) is within 15% of the
# plan, and the peaks fall from stage 0 to 3 on 2 ranks, and from 2 to 4 ranks at stage 3.
# One step is measured, the first: it makes the optimizer state, and with --track-memory nothing
# stays cached between steps, so a later step peaks at the same size (3 steps after a warm-up
# gave the same peaks within 1.5%, at twice the time: each step faults every page in anew).
source "$(dirname "$0")/lib.sh"

recipe=$src_dir/tests/e2e/recipes/params_heavy.yaml
printf '%-6s %-6s %12s %12s %8s\n' ranks stage "peak MiB" "plan MiB" ratio
for config in "1 0" "2 0" "2 1" "2 2" "2 3" "4 3"; do
  set -- $config
  mpirun --oversubscribe -np "$1" "$bin/vlm-bench-engine" --recipe "$recipe" \
    --set sharding.stage="$2" --steps 1 --warmup 0 --batch 1 --seq 16 --track-memory \
    --json "$work/r$1_s$2.json" > "$work/r$1_s$2.log" 2>&1 \
    || { tail -n 20 "$work/r$1_s$2.log"; fail "ranks $1 stage $2 failed"; }
done
/usr/bin/python3 - "$work" <<'PY' || fail "memory does not follow the plan"
import json, sys
runs = {}
for ranks, stage in [(1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (4, 3)]:
    r = json.load(open(f"{sys.argv[1]}/r{ranks}_s{stage}.json"))
    runs[ranks, stage] = r["peak_above_baseline_mb"]
    ratio = r["peak_above_baseline_mb"] / r["planned_mb"]
    print(f"{ranks:<6} {stage:<6} {r['peak_above_baseline_mb']:12.1f} {r['planned_mb']:12.1f} {ratio:8.3f}")
    assert abs(ratio - 1) <= 0.15, f"{ranks} ranks stage {stage}: measured/plan {ratio:.3f}"
falling = [runs[2, s] for s in range(4)]
assert falling == sorted(falling, reverse=True), f"2 ranks, stages 0-3: {falling}"
assert runs[4, 3] < runs[2, 3], f"stage 3: 4 ranks {runs[4, 3]} vs 2 ranks {runs[2, 3]}"
PY
echo "PASS"
