#!/usr/bin/env bash
# A rank that dies mid-training does not hang the others: they give up within twice the
# collective timeout, with an error naming the step, the collective and what it was for. mpirun is told
# not to end the job itself when a rank dies (as srun does by default), so the survivors have
# only their own timeouts to rely on.
source "$(dirname "$0")/lib.sh"

timeout_s=4
"$bin/vlm-synth" --out "$work/c" --seed 2 --captions 16 --instructions 300 --vora 4 --eval 1 \
  --threads 1 > /dev/null
for stage in 0 3; do
  run=$work/run$stage
  mpirun --oversubscribe --mca orte_abort_on_non_zero_status 0 -np 3 "$bin/vlm-worker" \
    --recipe "$src_dir/tests/e2e/recipes/sharded_mix.yaml" --set data.corpus_dir="$work/c" \
    --set run_dir="$run" --set sharding.stage=$stage --set training.max_steps=100000 --set training.global_batch_size=6 \
    --set training.log_every=1 --set cluster.timeout_s=$timeout_s > "$work/log$stage" 2>&1 &
  launcher=$!
  # Kill rank 1 once training runs (a few steps in metrics.jsonl).
  for _ in $(seq 600); do
    [ -f "$run/metrics.jsonl" ] && [ "$(wc -l < "$run/metrics.jsonl")" -ge 3 ] && break
    sleep 0.1
  done
  [ -s "$run/metrics.jsonl" ] || { kill "$launcher"; tail -n 5 "$work/log$stage"; fail "stage $stage: training never started"; }
  victim=$(rank_pid "$launcher" 1)
  [ -n "$victim" ] || { kill "$launcher"; fail "stage $stage: rank 1 not found"; }
  kill -KILL "$victim"
  killed_at=$(date +%s%3N)
  # The survivors must be gone within twice the timeout; mpirun follows them.
  deadline=$((killed_at + 2000 * timeout_s))
  while pgrep -P "$launcher" > /dev/null; do
    if [ "$(date +%s%3N)" -gt "$deadline" ]; then
      pkill -KILL -P "$launcher"; kill -KILL "$launcher"
      fail "stage $stage: the surviving ranks still run $((2 * timeout_s)) s after rank 1 died"
    fi
    sleep 0.1
  done
  gone_ms=$(($(date +%s%3N) - killed_at))
  # With that setting mpirun itself lingers once its ranks are gone: end it.
  kill "$launcher" 2> /dev/null || true
  wait "$launcher" 2> /dev/null || true
  grep -E "error: stage 'mixed' step [0-9]+: (all_gather|reduce_scatter|all_reduce|broadcast|barrier).* timed out" \
    "$work/log$stage" > "$work/errors$stage" \
    || { tail -n 20 "$work/log$stage"; fail "stage $stage: no timeout error naming a collective"; }
  echo "stage $stage: survivors exited $gone_ms ms after rank 1 was killed (timeout $timeout_s s):"
  sed 's/^/  /' "$work/errors$stage"
done
echo "PASS"
