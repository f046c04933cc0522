#!/usr/bin/env bash
# Each kind of bad record is skipped and counted under its reason; no path outside the image
# root is ever opened (checked with strace when it can run); --strict turns a skip into an error;
# a shard of another format version is refused with a message naming both versions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_lib.sh"

mkdir -p "$work/c/images/a"
# Valid images from the synthetic corpus, one of them also as a sentinel outside the root.
"$bin/vlm-synth" --out "$work/synth" --captions 4 --instructions 0 --vora 0 --eval 1 \
  --image-size 16 --threads 1 > /dev/null
i=0
for f in $(find "$work/synth/images" -name '*.jpg' | sort | head -n 3); do
  cp "$f" "$work/c/images/a/$i.jpg"; i=$((i + 1))
done
cp "$work/c/images/a/0.jpg" "$work/c/sentinel_outside.jpg"
ln -s ../../sentinel_outside.jpg "$work/c/images/a/link_out.jpg"
printf 'GIF89a not a jpeg' > "$work/c/images/a/gif.jpg"
head -c 20 "$work/c/images/a/1.jpg" > "$work/c/images/a/cut.jpg"
# Issue 18: a FIFO (open() used to wait for a writer forever), a 3 GiB sparse file (read whole),
# a header declaring 26000 x 26000 pixels (decoded in training), a record of 5 MB and one whose
# bytes are not UTF-8 (its skip detail ended the whole job).
mkfifo "$work/c/images/a/fifo.jpg"
truncate -s 3G "$work/c/images/a/huge.jpg"
/usr/bin/python3 - "$work/c/images/a/0.jpg" "$work/c/images/a/bomb.jpg" <<'PY'
import sys
jpeg = bytearray(open(sys.argv[1], "rb").read())
sof = jpeg.index(b"\xff\xc0", 2)
jpeg[sof + 5:sof + 9] = (26000).to_bytes(2, "big") * 2
open(sys.argv[2], "wb").write(jpeg)
PY

q='{"from": "human", "value": "<image>\nDescribe."}'
a='{"from": "gpt", "value": "a shape"}'
t='{"from": "human", "value": "Hello?"}'
img() { echo "{\"id\": \"$1\", \"image\": \"$2\", \"conversations\": [$q, $a]}"; }
cat > "$work/c/corpus.json" <<JSON
[
$(img good0 a/0.jpg),
$(img good1 a/1.jpg),
{"id": "text0", "conversations": [$t, $a]},
{"id": "malformed0", "conversations": [$q $a]},
{"id": "malformed1", "image": 5, "conversations": [$q, $a]},
$(img missing0 a/none.jpg),
$(img missing1 a),
$(img undecodable0 a/gif.jpg),
$(img undecodable1 a/cut.jpg),
$(img outside0 ../sentinel_outside.jpg),
$(img outside1 "$work/c/sentinel_outside.jpg"),
$(img outside2 a/../../sentinel_outside.jpg),
$(img outside3 a/link_out.jpg),
{"id": "empty0", "conversations": []},
{"id": "order0", "conversations": [$t, $t, $a]},
{"id": "order1", "conversations": [$t]},
{"id": "mismatch0", "image": "a/2.jpg", "conversations": [{"from": "human", "value": "<image> and <image>"}, $a]},
$(img fifo0 a/fifo.jpg),
$(img huge0 a/huge.jpg),
$(img bomb0 a/bomb.jpg),
{"id": "long0", "conversations": [$t, {"from": "gpt", "value": "$(head -c 5000000 /dev/zero | tr '\0' x)"}]},
$(printf '{"id": "latin\xe9\xff", "conversations": [%s, %s]}' "$t" "$a"),
$(img good2 a/2.jpg)
]
JSON
cat > "$work/c/chat.jsonl" <<JSON
{"id": "line0", "conversations": [$t, $a]}
{"id": "line1", "conversations": [$t, $a
{"id": "line2", "frames": [], "conversations": [$t, $a]}
JSON

args=(--input "$work/c/corpus.json" --input "$work/c/chat.jsonl" --image-root "$work/c/images"
      --samples-per-shard 5)
run_shard() {  # run_shard OUT [extra args]: 2 ranks, under strace when it works
  local out=$1; shift
  if strace -f -o /dev/null true 2> /dev/null; then
    mpirun --oversubscribe -np 2 strace -f -ff -qq -e trace=%file -o "$out.trace" \
      "$bin/vlm-shard" "${args[@]}" --out "$out" "$@"
  else
    echo "strace cannot run here: the open check relies on the unit tests" >&2
    shard_mpi 2 "${args[@]}" --out "$out" "$@"
  fi
}
run_shard "$work/out" > "$work/log.txt" 2>&1 || fail "vlm-shard failed: $(cat "$work/log.txt")"

expect() { expect_total "$work/out" "$work/log.txt" "$@"; }  # expect KEY VALUE
expect records_read 26
expect samples_written 6
expect skipped 20
expect malformed_json 4
expect missing_image 3
expect undecodable_image 2
expect image_outside_root 4
expect empty_conversation 1
expect bad_turn_order 2
expect image_placeholder_mismatch 1
expect oversized_image 2
expect oversized_record 1
grep -qE '^image_outside_root +4$' "$work/log.txt" || fail "the table lacks the outside count"
grep -qE '^records read \(= both\) +26$' "$work/log.txt" || fail "the table lacks the totals"
[ "$(wc -l < "$work/out/skipped.jsonl")" -eq 20 ] || fail "skipped.jsonl does not list 20"
grep -q '"id":"fifo0","reason":"missing_image","detail":"a/fifo.jpg: not a regular file"' \
  "$work/out/skipped.jsonl" || fail "the FIFO is not reported as not a regular file"
grep -q '"id":"bomb0","reason":"oversized_image".*26000 x 26000' "$work/out/skipped.jsonl" ||
  fail "the pixel bomb is not reported"
grep -q '"id":"outside3","reason":"image_outside_root"' "$work/out/skipped.jsonl" ||
  fail "the symlink escape is not reported as outside the root"
grep -q '"id":"malformed0"' "$work/out/skipped.jsonl" || fail "malformed ids are not named"

# Nothing outside the root was opened: the sentinel's name is in no file system call (the
# symlink is opened by its inside name and refused by the kernel, without following it).
if ls "$work"/out.trace.* > /dev/null 2>&1; then
  cat "$work"/out.trace.* > "$work/trace.txt"
  grep -q '"a/0.jpg"' "$work/trace.txt" || fail "the trace does not show the image opens"
  if grep -q 'sentinel_outside' "$work/trace.txt"; then
    fail "a path outside the image root was opened: $(grep sentinel_outside "$work/trace.txt")"
  fi
fi

# --strict: the first bad record is an error that names it, and no index is written.
set +e
shard_mpi 2 "${args[@]}" --out "$work/strict" --strict > "$work/strict.txt" 2>&1
code=$?
set -e
[ "$code" -ne 0 ] || fail "--strict accepted bad records"
grep -q "record 3 (id malformed0) is unusable (malformed_json" "$work/strict.txt" ||
  fail "--strict message: $(cat "$work/strict.txt")"
[ ! -e "$work/strict/index.json" ] || fail "--strict wrote an index"
no_shard_processes

# A shard of another format version: --verify names the file and both versions, and a rerun
# rewrites that shard instead of keeping it.
/usr/bin/python3 -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as f: f.attrs["format_version"] = 99' "$work/out/shard-000001.h5"
set +e
"$bin/vlm-shard" --verify "$work/out" > /dev/null 2> "$work/verify.txt"
code=$?
set -e
[ "$code" -eq 1 ] || fail "--verify exit $code on a version-99 shard"
grep -q "shard-000001.h5 has shard format version 99 but this build reads version 1" \
  "$work/verify.txt" || fail "version message: $(cat "$work/verify.txt")"
shard_mpi 2 "${args[@]}" --out "$work/out" > "$work/rerun.txt" 2>&1 || fail "rerun failed"
grep -q "(1 written, 5 kept" "$work/rerun.txt" || fail "rerun: $(cat "$work/rerun.txt")"
"$bin/vlm-shard" --verify "$work/out" > /dev/null || fail "the rerun did not repair the folder"
echo "PASS"
