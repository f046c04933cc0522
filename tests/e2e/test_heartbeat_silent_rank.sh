#!/usr/bin/env bash
# A stopped rank ends the job through heartbeats, not through the collectives' timeout: rank 1 of
# a 2-rank job is frozen (SIGSTOP) mid-training; /status shows its heartbeat growing old, rank 0
# logs its rank and host, and the job exits 76 (kExitRankSilent, for a requeue) within a few
# seconds of cluster.heartbeat_timeout_s, long before cluster.timeout_s.
source "$(dirname "$0")/lib.sh"

heartbeat_timeout_s=4
collective_timeout_s=120
"$bin/vlm-synth" --out "$work/c" --seed 2 --captions 16 --instructions 300 --vora 4 --eval 1 \
  --threads 1 > /dev/null
port=$(free_port)
run=$work/run
mpirun --oversubscribe -np 2 "$bin/vlm-worker" \
  --recipe "$src_dir/tests/e2e/recipes/sharded_mix.yaml" --set data.corpus_dir="$work/c" \
  --set run_dir="$run" --set training.max_steps=100000 --set training.global_batch_size=4 \
  --set training.log_every=1 --set cluster.timeout_s=$collective_timeout_s \
  --set cluster.heartbeat_interval_s=0.5 --set cluster.heartbeat_timeout_s=$heartbeat_timeout_s \
  --status-port "$port" > "$work/log" 2>&1 &
launcher=$!
victim=""
# On a failure, nothing is left behind: not the frozen rank, not the job.
cleanup() {
  if [ -n "$victim" ]; then kill -KILL "$victim" 2> /dev/null || true; fi
  kill -KILL "$launcher" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1200); do
  [ -f "$run/metrics.jsonl" ] && [ "$(wc -l < "$run/metrics.jsonl")" -ge 3 ] && break
  kill -0 "$launcher" 2> /dev/null || { tail -n 20 "$work/log"; fail "the job ended early"; }
  sleep 0.1
done
[ -s "$run/metrics.jsonl" ] || { tail -n 5 "$work/log"; fail "training never started"; }
victim=$(rank_pid "$launcher" 1)
[ -n "$victim" ] || fail "rank 1 not found"
kill -STOP "$victim"
stopped_at=$(date +%s%3N)

# While rank 0 waits for it, /status shows rank 1's last heartbeat getting old.
/usr/bin/python3 - "$port" << 'PY' || fail "/status did not show rank 1's heartbeat ageing"
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/status"
for _ in range(60):
    ranks = json.load(urllib.request.urlopen(url, timeout=5))["ranks"]
    if ranks[1]["heartbeat_age_s"] > 2 and ranks[0]["heartbeat_age_s"] < 2:
        print(f"/status: rank 1 last heard from {ranks[1]['heartbeat_age_s']:.1f} s ago "
              f"(rank 0: {ranks[0]['heartbeat_age_s']:.1f} s)")
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY

code=0
wait "$launcher" || code=$?
gone_ms=$(($(date +%s%3N) - stopped_at))
[ "$code" -eq 76 ] || { tail -n 20 "$work/log"; fail "exit $code, want 76 (kExitRankSilent)"; }
[ "$gone_ms" -lt $((1000 * (heartbeat_timeout_s + 10))) ] \
  || fail "the job took $gone_ms ms to end after rank 1 stopped (heartbeat timeout $heartbeat_timeout_s s)"
grep -E "rank 1 on host $(hostname) sent no heartbeat" "$work/log" \
  || { tail -n 20 "$work/log"; fail "rank 0 did not report rank 1 and its host"; }
# Nothing is left behind: mpirun ended the frozen rank with the job (gone, or a zombie not yet
# reaped by init).
sleep 1
state=$(ps -o stat= -p "$victim" || true)
case "$state" in "" | Z*) victim="" ;; *) fail "the stopped rank $victim is still there ($state)" ;; esac
echo "job ended $gone_ms ms after rank 1 was stopped (heartbeat timeout $heartbeat_timeout_s s," \
  "collective timeout $collective_timeout_s s), exit $code"
echo "PASS"
