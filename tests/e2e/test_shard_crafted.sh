#!/usr/bin/env bash
# Issue 18: shard files whose per-sample counts are negative, whose offsets run backwards, past
# their data or over any sane length used to end in SIGSEGV, invalid reads or a bare
# "basic_string::_M_create" naming no file. A real shard is rewritten with h5py each way (and its
# size and checksum in index.json updated, so that the reader itself meets the damage), then read
# by vlm-shard --verify and by training: each is a clear error naming the shard file, never a
# crash.
source "$(dirname "$0")/lib.sh"

"$bin/vlm-synth" --out "$work/c" --seed 4 --captions 40 --instructions 0 --vora 0 --eval 1 \
  --image-size 32 --threads 1 > /dev/null
"$bin/vlm-shard" --input "$work/c/blip_laion_cc_sbu_558k.json" --image-root "$work/c/images" \
  --out "$work/good" --samples-per-shard 20 > "$work/shard.log" 2>&1 ||
  fail "vlm-shard failed: $(cat "$work/shard.log")"
"$bin/vlm-shard" --verify "$work/good" > /dev/null || fail "the fresh shards do not verify"

# craft NAME PYTHON: a copy of the shards as $work/NAME whose shard-000000.h5 the Python
# statements rewrite (h5py file `f`), with index.json's size and checksum made to match again.
craft() {
  cp -r "$work/good" "$work/$1"
  /usr/bin/python3 - "$work/$1" "$2" <<'PY'
import h5py, json, os, sys, zlib
folder, change = sys.argv[1], sys.argv[2]
path = os.path.join(folder, "shard-000000.h5")
with h5py.File(path, "r+") as f:
    exec(change)
index_path = os.path.join(folder, "index.json")
index = json.load(open(index_path))
data = open(path, "rb").read()
for shard in index["shards"]:
    if shard["file"] == "shard-000000.h5":
        shard["size"] = len(data)
        shard["checksum"] = "crc32:%08x" % zlib.crc32(data)
json.dump(index, open(index_path, "w"), indent=1)
PY
}

# expect_clear_error LOG CODE WHAT: exit 1 or 2 with a message naming the damaged shard.
expect_clear_error() {
  case $2 in
    1|2) ;;
    *) fail "$3: exit $2 (134: abort, 139: SIGSEGV): $(tail -n 5 "$1")" ;;
  esac
  ! grep -q "basic_string\|Segmentation\|Aborted\|std::bad_alloc\|out_of_range" "$1" ||
    fail "$3: $(grep -m 1 "basic_string\|Segmentation\|Aborted\|bad_alloc\|out_of_range" "$1")"
  grep -q "shard-000000.h5" "$1" || fail "$3: the message names no shard file: $(tail -n 3 "$1")"
}

craft negative_count 'f["samples/image_count"][3] = -7'
craft negative_samples 'f.attrs["sample_count"] = -5'
# Entry 5 ends before it starts (offsets 5 and 6 swapped).
craft reversed 'o = f["samples/record/offsets"]; a, b = o[5], o[6]; o[5] = b; o[6] = a'
# The images' last entry runs 1 MiB past the bytes the dataset holds.
craft past_data 'o = f["images/offsets"]; o[-1] = o[-1] + (1 << 20)'
# An id of 2^62 bytes.
craft huge 'o = f["samples/id"]["offsets"]; o[-1] = 1 << 62'

recipe=$src_dir/recipes/tiny/llava_two_stage.yaml
for name in negative_count negative_samples reversed past_data huge; do
  code=0
  "$bin/vlm-shard" --verify "$work/$name" > "$work/$name.verify" 2>&1 || code=$?
  expect_clear_error "$work/$name.verify" "$code" "vlm-shard --verify ($name)"
  echo "$name, --verify: $(grep -m 1 'shard-000000' "$work/$name.verify" | cut -c 1-240)"
done

# Training from the damaged shards (their checksums match index.json, so the reader meets the
# damage): the same clear errors, before or at the first step.
for name in negative_count reversed past_data; do
  code=0
  "$bin/vlm-worker" --recipe "$recipe" --set data.corpus_dir="$work/c" \
    --set stages.0.data.shards="$work/$name" --set stages.0.training.max_steps=3 \
    --set stages.0.training.global_batch_size=8 --set stages.1.training.max_steps=1 \
    --set stages.1.data.shards="$work/good" --set run_dir="$work/run_$name" \
    > "$work/$name.train" 2>&1 || code=$?
  expect_clear_error "$work/$name.train" "$code" "training ($name)"
  echo "$name, training: $(grep -m 1 'error' "$work/$name.train" | cut -c 1-240)"
done
echo "PASS"
