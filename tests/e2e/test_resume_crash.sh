#!/usr/bin/env bash
# A 2-rank job killed (SIGKILL, every process at once) at 10 random instants, saves included, and
# started again after each, always resumes from a committed checkpoint (every one left on disk
# verifies) and ends with the per-step losses and final parameters of an uninterrupted run, bit
# for bit. Each kill comes once the restarted job has logged 1-8 new steps, plus up to 0.15 s:
# counted in steps, neither a slow start-up on a loaded machine nor quick steps move the kills.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
# A save at every step: many of the kills land in one.
common+=(--set training.max_steps=120 --set checkpoint.every_steps=1)

# steps_logged: lines of the crashing job's metrics file (appended to by every restart).
steps_logged() {
  if [ -f "$work/crash/metrics.jsonl" ]; then wc -l < "$work/crash/metrics.jsonl"; else echo 0; fi
}

launch reference 2 || { tail -n 30 "$work/reference.log"; fail "reference failed"; }
RANDOM=11
for kill in $(seq 10); do
  before=$(steps_logged)
  launch crash 2 2> /dev/null &
  job=$!
  target=$((before + 1 + RANDOM % 8))
  until [ "$(steps_logged)" -ge "$target" ]; do
    kill -0 "$job" 2> /dev/null || { tail -n 20 "$work/crash.log"; fail "restart $kill ended early"; }
    sleep 0.05
  done
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.15 * r / 32768 }')"
  ! grep -q "final model" "$work/crash.log" || fail "the job finished before kill $kill: lengthen it"
  signal_ranks KILL crash
  pkill -KILL -f -- "mpirun.*run_dir=$work/crash( |\$)" || true
  wait "$job" 2>/dev/null || true
  if [ -d "$work/crash/checkpoints" ] && ls "$work/crash/checkpoints" | grep -qv '\.tmp$'; then
    "$bin/vlm-ckpt" verify "$work/crash/checkpoints" > "$work/verify.log" \
      || { cat "$work/verify.log"; fail "kill $kill left a damaged checkpoint"; }
  fi
  echo "kill $kill: $(ls "$work/crash/checkpoints" 2>/dev/null | tr '\n' ' ')"
done
launch crash 2 || { tail -n 30 "$work/crash.log"; fail "the last restart failed"; }
resumes=$(grep -c "resuming from" "$work/crash.log" || true)
echo "resumed $resumes time(s)"
[ "$resumes" -ge 5 ] || fail "only $resumes resume(s): the kills came too early to test much"
compare "$work/reference" "$work/crash" --loss-rtol 0 --param-atol 0 || fail "not the uninterrupted result"
echo "PASS"
