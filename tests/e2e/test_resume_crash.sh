#!/usr/bin/env bash
# A 2-rank job killed (SIGKILL, every process at once) at 10 random instants, saves included, and
# started again after each, always resumes from a committed checkpoint (every one left on disk
# verifies) and ends with the per-step losses and final parameters of an uninterrupted run, bit
# for bit.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
# A save at every step: many of the kills land in one.
common+=(--set training.max_steps=120 --set checkpoint.every_steps=1)

launch reference 2 || { tail -n 30 "$work/reference.log"; fail "reference failed"; }
RANDOM=11
for kill in $(seq 10); do
  launch crash 2 2> /dev/null &
  job=$!
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 1.0 + 2.0 * r / 32768 }')"
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
