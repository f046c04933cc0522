#!/usr/bin/env bash
# A two-stage recipe resumes in the stage it was stopped in: stopped by SIGTERM (sent twice: the
# second, during the save, changes nothing) in stage 2, or by SIGUSR1 (Slurm's --signal) early
# on, and started again, it gives the losses and final parameters of an uninterrupted run, bit
# for bit. And a
# run whose loss goes non-finite skips those steps and stops after training.max_nonfinite_steps
# in a row, with no checkpoint of the diverged state.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
recipe=$src_dir/tests/e2e/recipes/two_stage_resume.yaml
common=(--set data.corpus_dir="$work/c")

# stop_and_resume NAME SIGNAL STAGE STEP
stop_and_resume() {
  local name=$1
  preempt_at "$name" "$3" "$4" "$2"
  launch "$name" 2 || { tail -n 30 "$work/$name.log"; fail "$name: the resumed job failed"; }
  grep -o "resuming from [^ ]*" "$work/$name.log"
  printf '%-10s ' "$name"
  compare "$work/reference" "$work/$name" --loss-rtol 0 --param-atol 0 || fail "$name: not exact"
}

launch reference 2 || { tail -n 30 "$work/reference.log"; fail "reference failed"; }
stop_and_resume in_stage2 TERM finetune 5
stop_and_resume in_stage1 USR1 pretrain 2

# Divergence: an absurd learning rate makes the loss overflow after the first update.
code=0
launch diverged 2 --set optimizer.lr=1e30 --set training.max_nonfinite_steps=3 || code=$?
[ "$code" -ne 0 ] || fail "a diverged run exited 0"
grep -q "3 steps in a row had a non-finite loss" "$work/diverged.log" \
  || { tail -n 20 "$work/diverged.log"; fail "no divergence message"; }
skipped=$(grep -c '"skipped":true' "$work/diverged/metrics.jsonl" || true)
[ "$skipped" -eq 3 ] || fail "$skipped steps logged as skipped, want 3"
[ ! -d "$work/diverged/checkpoints" ] || [ -z "$(ls "$work/diverged/checkpoints")" ] \
  || fail "a checkpoint was taken during the non-finite steps: $(ls "$work/diverged/checkpoints")"
grep -m1 "non-finite" "$work/diverged.log" | sed 's/.*error: //'
echo "PASS"
