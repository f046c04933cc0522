#!/usr/bin/env bash
# Every new recipe shards: each tiny recipe, shortened, trained on 3 ranks at ZeRO stage 3 gives
# the losses (every term, to 1e-5 relative) and final parameters (to 2e-5 absolute: AdamW turns
# the reordered sums' rounding into parameter noise, measured up to 1.02e-5 at lr 2e-3) of 1 rank
# at stage 0. The VoRA teacher (CLIP's tower, and AIMv2's) and AuxHeads, Inverse-LLaVA's fusion and
# VDEP's separate <auto_image> row all pass through the gather/free/reduce-scatter of stage 3.
source "$(dirname "$0")/lib.sh"
"$bin/vlm-synth" --out "$work/r" --seed 3 --captions 48 --instructions 96 --vora 48 --eval 1 \
  --threads 1 > /dev/null
bash "$src_dir/scripts/shard_tiny_corpus.sh" "$bin" "$work/r" > "$work/shard.log" 2>&1 \
  || { tail -n 20 "$work/shard.log"; fail "vlm-shard failed"; }

# sharded_equals_single RECIPE [--set ...]; RUN_AS=LABEL names the runs of a variant (a recipe
# with --set changes) apart from the recipe's own.
sharded_equals_single() {
  local recipe=$1 name=${RUN_AS:-$1} ranks stage
  shift
  for ranks in 1 3; do
    stage=$([ "$ranks" = 1 ] && echo 0 || echo 3)
    mpirun --oversubscribe -np "$ranks" "$bin/vlm-worker" --recipe "$src_dir/recipes/tiny/$recipe.yaml" \
      --set data.corpus_dir="$work/r" --set run_dir="$work/$name-$ranks" \
      --set sharding.stage="$stage" --set training.num_threads=1 "$@" > "$work/$name-$ranks.log" 2>&1 \
      || { tail -n 30 "$work/$name-$ranks.log"; fail "$name on $ranks rank(s) failed"; }
  done
  printf '%-14s ' "$name"
  /usr/bin/python3 "$src_dir/tests/e2e/compare_runs.py" "$work/$name-1" "$work/$name-3" \
    --loss-rtol 1e-5 --param-atol 2e-5 || fail "$name: 3 ranks at stage 3 differ from 1 rank"
}

batch12=(--set stages.0.training.global_batch_size=12 --set stages.0.training.max_steps=4)
sharded_equals_single vdep "${batch12[@]}" --set stages.1.training.global_batch_size=12 \
  --set stages.1.training.max_steps=3
# LoRA dropout draws per rank, so it differs with the world size: off here.
sharded_equals_single inverse_llava "${batch12[@]}" --set stages.0.lora.dropout=0
sharded_equals_single vora "${batch12[@]}" --set stages.1.training.global_batch_size=12 \
  --set stages.1.training.max_steps=3
# The same distilling from a tiny AIMv2 teacher (no class token, RMSNorm, SwiGLU), for 24 steps.
aimv2_teacher=(--set model.vision.type=aimv2 --set model.vision.drop_cls=false)
RUN_AS=vora_aimv2 sharded_equals_single vora "${batch12[@]}" --set stages.0.training.max_steps=24 \
  --set stages.1.training.global_batch_size=12 --set stages.1.training.max_steps=3 "${aimv2_teacher[@]}"
echo PASS
