#!/usr/bin/env bash
# Every recipe resumes: each tiny recipe, shortened, is stopped by SIGTERM in the middle of a
# stage and started again, and its losses (every term) and final parameters equal those of an
# uninterrupted run, bit for bit.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
"$bin/vlm-synth" --out "$work/r" --seed 5 --captions 64 --instructions 160 --vora 64 --eval 1 \
  --threads 1 > /dev/null
bash "$src_dir/scripts/shard_tiny_corpus.sh" "$bin" "$work/r" > "$work/shard.log" 2>&1 \
  || { tail -n 20 "$work/shard.log"; fail "vlm-shard failed"; }

# resumes RECIPE STAGE STEP [--set ...]: the reference run, then one stopped at STAGE's STEP and
# resumed; the two compared. RUN_AS=LABEL names the runs of a variant (a recipe with --set changes).
resumes() {
  local name=${RUN_AS:-$1} stage=$2 step=$3
  recipe=$src_dir/recipes/tiny/$1.yaml
  shift 3
  common=(--set data.corpus_dir="$work/r" --set checkpoint.every_steps=2 "$@")
  launch "$name-reference" 2 || { tail -n 30 "$work/$name-reference.log"; fail "$name failed"; }
  preempt_at "$name" "$stage" "$step" TERM
  launch "$name" 2 || { tail -n 30 "$work/$name.log"; fail "$name: the resumed job failed"; }
  grep -q "resuming from" "$work/$name.log" || fail "$name did not resume"
  grep -o "resuming from [^ ]*" "$work/$name.log"
  printf '%-22s ' "$name"
  compare "$work/$name-reference" "$work/$name" --loss-rtol 0 --param-atol 0 \
    || fail "$name: not exact"
}

# Enough steps after the signal's step that it lands mid-stage (a step takes ~0.1 s here).
two_stages=(--set stages.0.training.max_steps=4 --set stages.1.training.max_steps=30
  --set stages.1.training.global_batch_size=8 --set stages.0.training.global_batch_size=8)
resumes vdep finetune 5 "${two_stages[@]}"
# Stopped inside VDEP's hybrid stage: its exact split is a function of the seed and the position.
RUN_AS=vdep_pretrain resumes vdep pretrain 3 --set stages.0.training.max_steps=10 \
  --set stages.0.training.global_batch_size=8 --set stages.1.training.max_steps=2 \
  --set stages.1.training.global_batch_size=8
resumes llava_two_stage_lora finetune 5 "${two_stages[@]}"
vora_short=(--set stages.0.training.max_steps=20 --set stages.1.training.max_steps=4
  --set stages.1.training.global_batch_size=8 --set training.global_batch_size=8)
resumes vora pretrain 3 "${vora_short[@]}"
RUN_AS=vora_aimv2 resumes vora pretrain 3 "${vora_short[@]}" --set model.vision.type=aimv2 \
  --set model.vision.drop_cls=false
resumes inverse_llava finetune 5 --set stages.0.training.max_steps=30 \
  --set stages.0.training.global_batch_size=8
echo PASS
