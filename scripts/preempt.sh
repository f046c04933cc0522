# Sourced by scripts/demo.sh (and tests/e2e/test_demo_preempt.sh, which holds it to this).
# preempt_job JOB: SIGTERM to the vlm-worker ranks that are JOB's children (mpirun's ranks), as a
# cluster preempts a job; the ranks agree at the next step boundary, save and exit 75. Only this
# job's ranks: a vlm-worker of another job on the machine is not ours to stop (a bare
# `pkill -x vlm-worker` signalled every one of them).
preempt_job() {
  pkill -TERM -P "$1" -x vlm-worker || true
}
