# Helpers for the checkpoint tests (sourced after lib.sh): a small corpus, the equivalence
# recipe's model (frozen ViT, LoRA, projector, tied embedding) at ZeRO stage 3, and jobs that
# can be stopped and resumed.
"$bin/vlm-synth" --out "$work/c" --seed 5 --captions 16 --instructions 400 --vora 8 --eval 1 \
  --threads 1 > /dev/null
recipe=$src_dir/tests/e2e/recipes/sharded_mix.yaml
# 12 divides among 2, 3 and 4 ranks.
common=(--set data.corpus_dir="$work/c" --set training.global_batch_size=12
  --set sharding.stage=3)

# launch NAME RANKS [ARGS...]: one vlm-worker job into $work/NAME, its output appended to
# $work/NAME.log; returns the job's exit status.
launch() {
  local name=$1 ranks=$2
  shift 2
  mpirun --oversubscribe -np "$ranks" "$bin/vlm-worker" --recipe "$recipe" "${common[@]}" \
    --set run_dir="$work/$name" "$@" >> "$work/$name.log" 2>&1
}

# signal_ranks SIGNAL NAME: the job's vlm-worker processes (not mpirun), as Slurm signals tasks.
signal_ranks() {
  local pid
  for pid in $(pgrep -f -- "run_dir=$work/$2( |\$)"); do
    # A rank may exit between pgrep and kill: that is no failure (set -e would end the test silently).
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = vlm-worker ]; then kill "-$1" "$pid" 2>/dev/null || true; fi
  done
  return 0
}

# wait_for_step NAME STEP PID: until the job has logged STEP (fails if PID ends first).
wait_for_step() {
  until [ -f "$work/$1/metrics.jsonl" ] && grep -q "\"step\":$2," "$work/$1/metrics.jsonl"; do
    kill -0 "$3" 2>/dev/null || { tail -n 20 "$work/$1.log"; fail "$1 ended before step $2"; }
    sleep 0.2
  done
}

compare() { /usr/bin/python3 "$src_dir/tests/e2e/compare_runs.py" "$@"; }

# preempt_at NAME STAGE STEP SIGNAL [ARGS...]: launches job NAME on 2 ranks, sends SIGNAL to its
# ranks (twice: the second, during the save, must change nothing) once it has logged STEP of
# STAGE, and checks that it exits 75 (saved, requeue me). Its steps are paced (the worker's
# VLM_TEST_STEP_DELAY_MS) so that the signal lands before the stage's last step: unpaced, a tiny
# model's remaining steps can all run between the test's polls of the metrics file.
preempt_at() {
  local name=$1 stage=$2 step=$3 signal=$4 code=0
  shift 4
  VLM_TEST_STEP_DELAY_MS=150 launch "$name" 2 "$@" &
  local job=$!
  until [ -f "$work/$name/metrics.jsonl" ] &&
      grep -q "\"step\":$step,\"stage\":\"$stage\"" "$work/$name/metrics.jsonl"; do
    kill -0 "$job" 2>/dev/null || { tail -n 20 "$work/$name.log"; fail "$name ended early"; }
    sleep 0.2
  done
  signal_ranks "$signal" "$name"
  sleep 0.3
  signal_ranks "$signal" "$name"
  wait "$job" || code=$?
  [ "$code" -eq 75 ] || { tail -n 20 "$work/$name.log"; fail "$name: exit $code, want 75"; }
}
