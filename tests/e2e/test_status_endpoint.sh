#!/usr/bin/env bash
# The status endpoint answers while training and nothing a client sends changes training: a
# 2-rank job with --status-port is probed by status_probe.py (GET /status and /metrics, the step
# advancing, malformed and oversized requests, random bytes, a body, unknown paths and methods,
# a silent half request, idle connections), then finishes normally with losses and parameters
# bit-equal to the same job without the endpoint and without heartbeats.
source "$(dirname "$0")/lib.sh"

"$bin/vlm-synth" --out "$work/c" --seed 5 --captions 16 --instructions 400 --vora 8 --eval 1 \
  --threads 1 > /dev/null
common=(--recipe "$src_dir/tests/e2e/recipes/sharded_mix.yaml" --set data.corpus_dir="$work/c"
  --set training.max_steps=300 --set training.global_batch_size=4 --set checkpoint.every_steps=50)

mpirun --oversubscribe -np 2 "$bin/vlm-worker" "${common[@]}" --set run_dir="$work/plain" \
  --set cluster.heartbeat_interval_s=0 > "$work/plain.log" 2>&1 \
  || { tail -n 20 "$work/plain.log"; fail "the run without the endpoint failed"; }

port=$(free_port)
# The watched run sleeps 100 ms after each step (the worker's test hook), so that it outlasts the
# probe's ~15 s (30 s at the least) at the cost of 300 steps' compute (~8 s), not 1,500 steps'.
VLM_TEST_STEP_DELAY_MS=100 mpirun --oversubscribe -np 2 "$bin/vlm-worker" "${common[@]}" \
  --set run_dir="$work/watched" \
  --status-port "$port" --set cluster.heartbeat_interval_s=0.5 > "$work/watched.log" 2>&1 &
job=$!
probe=0
/usr/bin/python3 "$src_dir/tests/e2e/status_probe.py" "$port" 2 "$(hostname)" || probe=$?
code=0
wait "$job" || code=$?
[ "$probe" -eq 0 ] || { tail -n 20 "$work/watched.log"; fail "the probe failed (exit $probe)"; }
[ "$code" -eq 0 ] || { tail -n 20 "$work/watched.log"; fail "the watched run exited $code"; }
grep -q "status endpoint: http://127.0.0.1:$port/status" "$work/watched.log" \
  || fail "rank 0 did not log the endpoint's URL"
/usr/bin/python3 "$src_dir/tests/e2e/compare_runs.py" "$work/plain" "$work/watched" --loss-rtol 0 --param-atol 0 \
  || fail "the endpoint changed training"
echo "PASS"
