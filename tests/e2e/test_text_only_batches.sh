#!/usr/bin/env bash
# Issue 18, item 11: a stage that trains only the projector, given a micro batch without images
# (a text-only record, as real instruction mixtures have), ended the run with "element 0 of
# tensors does not require grad". Such a micro batch has no backward; the run goes on, every
# rank's collectives still match, and the step's loss counts its text.
# Stage 1 of the tiny LLaVA recipe on the instruction corpus, half of it text-only, one sample a
# micro batch, 2 ranks, ZeRO 2 and 3 (stage 2 of the recipe follows for its 6 steps too).
source "$(dirname "$0")/lib.sh"
"$bin/vlm-synth" --out "$work/c" --captions 8 --instructions 32 --vora 0 --eval 1 \
  --image-size 32 --text-only-ratio 0.5 --threads 1 > /dev/null
for stage in 2 3; do
  mpirun -np 2 "$bin/vlm-worker" --recipe "$src_dir/recipes/tiny/llava_two_stage.yaml" \
    --set run_dir="$work/run$stage" --set data.corpus_dir="$work/c" \
    --set stages.0.data.json=llava_v1_5_mix665k.json --set stages.0.data.template=vicuna_v1 \
    --set stages.1.data.json=llava_v1_5_mix665k.json \
    --set training.max_steps=6 --set training.global_batch_size=2 \
    --set training.micro_batch_size=1 --set sharding.stage=$stage --set eval.questions='' \
    --progress plain > "$work/run$stage.log" 2>&1 ||
    { tail -n 20 "$work/run$stage.log"; fail "stage $stage: the run failed"; }
  steps=$(grep -c '"stage":"pretrain"' "$work/run$stage/metrics.jsonl")
  [ "$steps" -eq 6 ] || fail "stage $stage: $steps steps logged, want 6"
done
echo "PASS"
