#!/usr/bin/env bash
# Issue 18: scripts/demo.sh preempted its run with `pkill -TERM -x vlm-worker`, which signals every
# vlm-worker on the machine, another job's included. demo.sh now preempts through preempt_job
# (scripts/preempt.sh); this holds the function to signalling only the job's own ranks, with stand-in
# processes named vlm-worker (a copy of sleep): a fake job's two children get SIGTERM, another
# vlm-worker started beside them lives on. No training runs: under a second.
source "$(dirname "$0")/lib.sh"
source "$src_dir/scripts/preempt.sh"

demo=$src_dir/scripts/demo.sh
grep -q '^source scripts/preempt.sh$' "$demo" || fail "demo.sh does not source scripts/preempt.sh"
grep -q '^preempt_job "\$job"$' "$demo" || fail "demo.sh does not preempt through preempt_job"
if grep -nE '\b(pkill|killall|kill)\b[^#]*vlm-worker' "$demo"; then
  fail "demo.sh signals vlm-worker processes by name itself"
fi
# Before running it: a function that does not name the job as parent would signal every
# vlm-worker here, other tests' included.
type preempt_job | grep -q -- '-P "\$1"' || fail "preempt_job names no parent: $(type preempt_job)"

mkdir -p "$work/bin"
cp "$(command -v sleep)" "$work/bin/vlm-worker"
"$work/bin/vlm-worker" 60 &
other=$!
# The job: a parent (as mpirun) with two vlm-worker ranks; it reports how each ended.
bash -c '"$1" 60 & a=$!; "$1" 60 & b=$!
  wait $a; echo "rank0 $?" > "$2/ranks"; wait $b; echo "rank1 $?" >> "$2/ranks"' \
  _ "$work/bin/vlm-worker" "$work" &
job=$!
trap 'kill "$other" "$job" 2> /dev/null || true; pkill -KILL -P "$job" 2> /dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  [ "$(pgrep -P "$job" -x vlm-worker | wc -l)" -eq 2 ] && break
  sleep 0.1
done
[ "$(pgrep -P "$job" -x vlm-worker | wc -l)" -eq 2 ] || fail "the fake job's ranks did not start"

preempt_job "$job"
wait "$job" || fail "the fake job failed"
[ "$(cat "$work/ranks")" = "rank0 143
rank1 143" ] || fail "the job's ranks did not end by SIGTERM: $(cat "$work/ranks")"
kill -0 "$other" 2> /dev/null || fail "preempt_job signalled another job's vlm-worker"
[ "$(cat "/proc/$other/comm")" = vlm-worker ] || fail "pid $other is no longer the other vlm-worker"
# A job without ranks left: nothing to signal, no error (demo.sh runs under set -e).
preempt_job "$job"
echo "PASS"
