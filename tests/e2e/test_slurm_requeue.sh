#!/usr/bin/env bash
# A Slurm job survives preemption by itself. On a real local Slurm (munged, slurmctld, slurmd),
# `vlm-launch slurm --submit` submits a 2-rank job (srun --mpi=pmix); once it has logged step 15
# of 60, `scancel --signal=USR1` warns it as Slurm does before a preemption or the time limit.
# The job must save, exit 75, requeue itself, resume in the same run directory (named after the
# job id) and complete, with per-step losses and final parameters equal, bit for bit, to an
# uninterrupted run started by `vlm-launch local -n 2`.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
source "$src_dir/tests/e2e/slurm_lib.sh"
common+=(--set training.max_steps=60 --set checkpoint.every_steps=0)
sets=()
for ((i = 0; i < ${#common[@]}; i += 2)); do sets+=(--set "${common[i + 1]}"); done

"$bin/vlm-launch" local -n 2 --recipe "$recipe" "${sets[@]}" --set run_dir="$work/reference" \
  > "$work/reference.log" 2>&1 || { tail -n 30 "$work/reference.log"; fail "reference failed"; }

start_slurm
cd "$work"
# The job's steps are paced (the worker's VLM_TEST_STEP_DELAY_MS, which sbatch and srun pass on
# with the rest of the environment) so that the warning lands before step 60: unpaced, the
# remaining 45 steps of this tiny model take about 2 s, less than scancel's way to the ranks.
VLM_TEST_STEP_DELAY_MS=100 "$bin/vlm-launch" slurm --recipe "$recipe" "${sets[@]}" --ranks-per-node 2 --grace 60 \
  --run-dir "$work/runs/slurm-{job_id}" --submit > launch.out 2>&1 || { cat launch.out; fail "vlm-launch slurm"; }
cat launch.out
job=$(awk '/^submitted job/ { print $3 }' launch.out)
run=$work/runs/slurm-$job
log=$work/runs/vlm-sharded_mix-$job.out
grep -q -- "--signal=USR1@60" "$work/runs/vlm-sharded_mix.sbatch" || fail "no USR1 warning in the script"

until [ -f "$run/metrics.jsonl" ] && grep -q '"step":15,' "$run/metrics.jsonl"; do
  state=$(job_field "$job" JobState)
  case $state in PENDING | RUNNING | CONFIGURING) ;; *) cat "$log"; fail "job $job is $state before step 15" ;; esac
  sleep 0.2
done
scancel --signal=USR1 "$job"

for _ in $(seq 600); do
  [ "$(job_field "$job" JobState)" = COMPLETED ] && break
  sleep 0.5
done
echo "--- job log"; cat "$log"
[ "$(job_field "$job" JobState)" = COMPLETED ] || fail "job $job is $(job_field "$job" JobState), not COMPLETED"
[ "$(job_field "$job" Restarts)" = 1 ] || fail "job $job restarted $(job_field "$job" Restarts) times, want 1"
grep -q "preempted and saved; requeueing job $job" "$log" || fail "the first attempt did not save and requeue"
grep -q "resuming from" "$log" || fail "the second attempt did not resume"
grep -q "attempt 2" "$log" || fail "no second attempt in the log"
printf 'slurm requeue  '
compare "$work/reference" "$run" --loss-rtol 0 --param-atol 0 || fail "the requeued run differs from the uninterrupted one"
echo "PASS"
