#!/usr/bin/env bash
# Image preprocessing against the reference pipelines: tests/e2e/image_reference.py makes PNGs
# and JPEGs of odd sizes with Pillow, runs `vlm-tokenize --images` on them under LLaVA's two
# stages (CLIP ViT-L/14-336's preprocessor_config.json, square and pad with the mean colour),
# VoRA's (AIMv2-448's, pad with black), AIMv2 square and the tiny recipes' 32 px CLIP constants,
# and computes each itself as LLaVA's train.py / VoRA's PILExpand2Square and HF's
# CLIPImageProcessor do (PIL BICUBIC resize, centre crop, numpy float32 normalisation). PNGs must
# match exactly (uint8 crop identical, floats within 1e-6); JPEGs, decoded by stb_image here and
# by libjpeg-turbo in Pillow, within a few levels (the numbers are printed).
source "$(dirname "$0")/lib.sh"
"$VLM_PYTHON" -c "import PIL, numpy" 2> /dev/null \
  || fail "$VLM_PYTHON has no Pillow or numpy (scripts/install-deps.sh: python3-pil)"
"$VLM_PYTHON" "$src_dir/tests/e2e/image_reference.py" "$bin/vlm-tokenize" \
  "$src_dir/tests/fixtures" "$work" | tee "$work/summary.txt"
grep -q "x 5 configurations" "$work/summary.txt" || fail "the comparison did not finish"
echo "PASS: image preprocessing matches Pillow + HF's CLIPImageProcessor"
