#!/usr/bin/env bash
# What a person watches a run by. A two-stage run on 2 ranks, preempted in its second stage and
# started again (a second event file), into a log file: plain progress lines with stage, step,
# loss, tokens/s, MFU and ETA, and a summary table at the end. Its TensorBoard files, read back by
# python (own CRC-32C, own protobuf parsing), hold every step once, under a run-global step, with
# every scalar equal to metrics.jsonl's as float32. vlm-report draws a PNG of the expected size
# with more than a few colours and prints a row per stage. Under `script` (a terminal), the
# progress line is rewritten in place.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
recipe=$src_dir/tests/e2e/recipes/two_stage_resume.yaml
# 12 + 20 steps; a peak figure from the recipe keeps the start free of the matmul timing.
common=(--set data.corpus_dir="$work/c" --set training.log_every=5
  --set training.peak_tflops_per_rank=0.05)
check() { /usr/bin/python3 "$src_dir/tests/e2e/check_watch.py" "$@"; }

preempt_at watched finetune 6 TERM --set stages.0.training.max_steps=12 \
  --set stages.1.training.max_steps=20
launch watched 2 --set stages.0.training.max_steps=12 --set stages.1.training.max_steps=20 \
  || { tail -n 30 "$work/watched.log"; fail "the resumed run failed"; }
log=$work/watched.log

# Plain lines in a file: no carriage returns, a line every 5 steps and at each stage's end.
! grep -q $'\r' "$log" || fail "carriage returns in a log file"
for want in "pretrain 1/2 | step 5/12 (42%)" "pretrain 1/2 | step 12/12" \
  "finetune 2/2 | step 20/20"; do
  grep -qF "$want" "$log" || { grep "step " "$log" | tail; fail "no progress line '$want'"; }
done
line=$(grep -F "pretrain 1/2 | step 10/12" "$log")
for field in "loss " "tok/s" "MFU " "ETA " ", run "; do
  [[ $line == *"$field"* ]] || fail "the progress line has no '$field': $line"
done
echo "progress: $line" | sed 's/.*\] //'
grep -q "summary (finished" "$log" || fail "no summary"
grep -A 4 "summary (finished" "$log" | sed 's/.*\]   *//'
[ "$(ls "$work/watched/tensorboard" | wc -l)" -eq 2 ] || fail "want an event file per start"

check tensorboard "$work/watched" || fail "TensorBoard files disagree with metrics.jsonl"

"$bin/vlm-report" "$work/watched" --out "$work/report.png" > "$work/report.txt" \
  || { cat "$work/report.txt"; fail "vlm-report failed"; }
cat "$work/report.txt"
grep -qE "^pretrain +12 \(1\.\.12\)" "$work/report.txt" || fail "no pretrain row"
grep -qE "^finetune +20 \(1\.\.20\)" "$work/report.txt" || fail "no finetune row"
# One loss term (text_ce is the loss): loss, grad_norm, tokens/s, lr; two charts a row, 300 px
# each under a 40 px title band.
check png "$work/report.png" 1280 640 || fail "the report PNG"

# A terminal: script gives mpirun one; the ranks' line is redrawn in place.
script -qec "mpirun --oversubscribe -np 2 $bin/vlm-worker --recipe $recipe ${common[*]} \
  --set run_dir=$work/tty --set stages.0.training.max_steps=4 \
  --set stages.1.training.max_steps=4" /dev/null > "$work/tty.log" 2>&1 \
  || { tail -n 20 "$work/tty.log"; fail "the terminal run failed"; }
grep -qaF $'\rpretrain 1/2 | step 4/4' "$work/tty.log" \
  || { cat -A "$work/tty.log" | tail -n 20; fail "no in-place line on a terminal"; }
grep -qaF $'\033[K' "$work/tty.log" || fail "the terminal line is not cleared to its end"
echo "terminal: $(grep -ao $'\r[a-z]* [12]/2 | step' "$work/tty.log" | wc -l) in-place redraws"
echo "PASS"
