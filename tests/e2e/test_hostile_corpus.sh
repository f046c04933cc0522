#!/usr/bin/env bash
# Issue 18, the whole job: one corpus mixing every kind of hostile record and image file with
# 1,000 good records goes through vlm-shard and through training straight from the JSON. vlm-shard
# ends (exit 0) with records read = written + skipped and each planted kind counted under its
# reason; training from the same file runs an epoch (exit 0) and leaves every bad record (image
# refused, record over the cap, record that is not JSON) out of the loss, logged once each; and
# under strace neither job opens a path the corpus names outside the image root (/etc/hostname,
# /etc/passwd, /dev/zero, a symlink's target), successfully or not.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_lib.sh"

strace -f -o /dev/null true 2> /dev/null || fail "strace cannot run here (the test needs it)"

# The tokenizer and three real JPEGs from the synthetic corpus; the image root is $work/c/images.
"$bin/vlm-synth" --out "$work/synth" --captions 4 --instructions 0 --vora 0 --eval 1 \
  --image-size 32 --threads 1 > /dev/null
mkdir -p "$work/c/images/a" "$work/secret"
cp "$work/synth/tokenizer.model" "$work/c/"
i=0
for f in $(find "$work/synth/images" -name '*.jpg' | sort | head -n 3); do
  cp "$f" "$work/c/images/a/$i.jpg"; i=$((i + 1))
done
# A valid image outside the root, reachable only through a symlink inside it.
cp "$work/c/images/a/0.jpg" "$work/secret/symlink_target.jpg"
ln -s "$work/secret/symlink_target.jpg" "$work/c/images/a/link.jpg"
mkfifo "$work/c/images/a/fifo.jpg"
truncate -s 3G "$work/c/images/a/sparse.jpg"
head -c 4096 /dev/urandom > "$work/c/images/a/random.jpg"

# corpus.json: 1,000 good records (three images, a few phrasings) with the bad ones spread among
# them.
/usr/bin/python3 - "$work/c" <<'PY'
import json, sys
root = sys.argv[1]
jpeg = bytearray(open(root + "/images/a/0.jpg", "rb").read())
sof = jpeg.index(b"\xff\xc0", 2)
jpeg[sof + 5:sof + 9] = (26000).to_bytes(2, "big") * 2  # 26000 x 26000 declared
open(root + "/images/a/bomb.jpg", "wb").write(jpeg)

colours = ["red", "green", "blue", "purple"]
def record(rid, image, answer="a red circle"):
    r = {"id": rid, "conversations": [{"from": "human", "value": "<image>\nDescribe."},
                                      {"from": "gpt", "value": answer}]}
    if image is not None:
        r["image"] = image
    return json.dumps(r).encode()

good = [record(f"good{i}", f"a/{i % 3}.jpg", f"a {colours[i % 4]} circle") for i in range(1000)]
image_bad = [
    record("fifo0", "a/fifo.jpg"),                   # missing_image: not a regular file
    record("sparse0", "a/sparse.jpg"),               # oversized_image: 3 GiB
    record("bomb0", "a/bomb.jpg"),                   # oversized_image: 26000 x 26000
    record("escape0", "../../../../etc/hostname"),   # image_outside_root
    record("absolute0", "/etc/passwd"),              # image_outside_root
    record("device0", "/dev/zero"),                  # image_outside_root
    record("symlink0", "a/link.jpg"),                # image_outside_root (kernel-refused)
    record("missing0", "a/none.jpg"),                # missing_image
    record("random0", "a/random.jpg"),               # undecodable_image
]
long_record = record("long0", "a/1.jpg", "x" * 5_000_000)  # oversized_record (> 4 MiB)
not_json = [
    b'{"id": "latin\xe9\xff", "conversations": [{"from": "human", "value": "caf\xe9 <image>"}, '
    b'{"from": "gpt", "value": "r\xe9d"}], "image": "a/0.jpg"}',            # not UTF-8
    b'{"id": "deep0", "image": "a/0.jpg", "nest": ' + b"[" * 100000 + b"]" * 100000 +
    b', "conversations": [{"from": "human", "value": "<image>\\nDescribe."}, '
    b'{"from": "gpt", "value": "red"}]}',                                  # nested 100,000 deep
]
def write(name, bad):
    records = list(good)
    step = len(records) // (len(bad) + 1)
    for k, r in enumerate(bad):
        records.insert((k + 1) * step + k, r)
    with open(root + "/" + name, "wb") as f:
        f.write(b"[\n" + b",\n".join(records) + b"\n]\n")
write("corpus.json", image_bad + [long_record] + not_json)
PY

# vlm-shard, one rank, every open traced.
/usr/bin/time -f "vlm-shard: %e s" strace -f -qq -e trace=open,openat,openat2 -o "$work/shard.trace" \
  "$bin/vlm-shard" --input "$work/c/corpus.json" --image-root "$work/c/images" \
  --out "$work/shards" --samples-per-shard 256 > "$work/shard.log" 2>&1 ||
  fail "vlm-shard failed: $(tail -n 30 "$work/shard.log")"
expect() { expect_total "$work/shards" "$work/shard.log" "$@"; }  # expect KEY VALUE
expect records_read 1012
expect samples_written 1000
expect skipped 12
expect malformed_json 2
expect oversized_record 1
expect oversized_image 2
expect missing_image 2
expect image_outside_root 4
expect undecodable_image 1
grep -qE '^records read \(= both\) +1012$' "$work/shard.log" || fail "the table lacks the totals"
/usr/bin/python3 - "$work/shards/skipped.jsonl" <<'PY' || fail "skipped.jsonl: $(cat "$work/shards/skipped.jsonl" | cut -c 1-300)"
import collections, json, sys
want = {"fifo0": "missing_image", "sparse0": "oversized_image", "bomb0": "oversized_image",
        "escape0": "image_outside_root", "absolute0": "image_outside_root",
        "device0": "image_outside_root", "symlink0": "image_outside_root",
        "missing0": "missing_image", "random0": "undecodable_image", "deep0": "malformed_json"}
got = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]  # valid UTF-8 throughout
assert len(got) == 12, len(got)
by_id = {r["id"]: r["reason"] for r in got}
for rid, reason in want.items():
    assert by_id.get(rid) == reason, (rid, by_id.get(rid), reason)
# The 5 MB record is never held whole, so its id is not known; the latin-1 id is escaped.
rest = sorted((r["reason"], r["id"][:5]) for r in got if r["id"] not in want)
assert rest == [("malformed_json", "latin"), ("oversized_record", "")], rest
assert collections.Counter(by_id.values())["image_outside_root"] == 4
PY
"$bin/vlm-shard" --verify "$work/shards" > /dev/null 2>&1 || fail "the shards do not verify"

# Training straight from the same JSON, record by record.
# Its eval questions (for vlm-eval, below) name an image outside the root.
/usr/bin/python3 - "$work/c" <<'PY'
import json, sys
q = lambda image: {"id": image, "image": image, "category": "colour", "conversations": [
    {"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "red"}]}
json.dump([q("a/0.jpg"), q("../../../../etc/hostname")], open(sys.argv[1] + "/eval.json", "w"))
PY
cat > "$work/recipe.yaml" <<YAML
run_dir: $work/run
model: {preset: tiny}
sharding: {stage: 0}
cluster: {backend: mpi, timeout_s: 120}
checkpoint: {every_steps: 0}
data: {corpus_dir: $work/c, tokenizer: tokenizer.model, max_seq_len: 64}
optimizer: {lr: 1.0e-3}
schedule: {type: constant}
training: {seed: 3, global_batch_size: 92, epochs: 1, num_threads: 2, log_every: 1}
stages:
  - name: pretrain
    trainable: [projector]
    data: {json: corpus.json, image_root: images, template: plain, sampler: random}
eval: {questions: eval.json}
YAML

# corpus.json (1,012 records: 11 steps of 92) for one epoch, traced: every sample once; the nine
# whose image is refused, the 5 MB record (over data.max_record_bytes, never parsed) and the two
# that are not JSON keep their slots, are left out of the loss and are logged once each.
/usr/bin/time -f "training: %e s" strace -f -qq -e trace=open,openat,openat2 -o "$work/train.trace" \
  "$bin/vlm-worker" --recipe "$work/recipe.yaml" > "$work/train.log" 2>&1 ||
  fail "training from corpus.json failed: $(tail -n 30 "$work/train.log")"
! grep -q "basic_string\|Segmentation\|Aborted" "$work/train.log" || fail "training crashed"
steps=$(grep -c '"loss"' "$work/run/metrics.jsonl" || true)
[ "$steps" -eq 11 ] || fail "training logged $steps steps, want 11"
[ -d "$work/run/final" ] || fail "training wrote no final model"
for id in fifo0 sparse0 bomb0 escape0 absolute0 device0 symlink0 missing0 random0; do
  n=$(grep -c "sample '$id' (.*corpus.json: record .*) left out of the loss" "$work/train.log" || true)
  [ "$n" -eq 1 ] || fail "$id was reported $n times as left out of the loss: $(grep -m 3 "$id" "$work/train.log")"
done
n=$(grep -c "left out of the loss" "$work/train.log" || true)
[ "$n" -eq 12 ] || fail "$n samples left out of the loss, want 12"
grep -q "left out of the loss.*record of 5000[0-9]* bytes, over data.max_record_bytes" "$work/train.log" ||
  fail "the 5 MB record's reason: $(grep -m 1 "max_record_bytes" "$work/train.log" | cut -c 1-300)"
grep -q "left out of the loss.*invalid UTF-8\|left out of the loss.*invalid string" "$work/train.log" ||
  fail "the latin-1 record's reason: $(grep "left out of the loss" "$work/train.log" | grep -v "'[a-z]*0'" | cut -c 1-300)"
grep -q "left out of the loss.*nested deeper than" "$work/train.log" ||
  fail "the deep record's reason: $(grep "left out of the loss" "$work/train.log" | grep -v "'[a-z]*0'" | cut -c 1-300)"
# No raw byte of the latin-1 record reaches the log (its reason quotes it escaped).
! LC_ALL=C grep -q $'\xe9' "$work/train.log" || fail "the log holds the record's raw latin-1 bytes"

# vlm-eval on the trained model, its questions naming an image outside the root: a clear error
# naming the path, and (traced below) no open of it.
set +e
strace -f -qq -e trace=open,openat,openat2 -o "$work/eval.trace" \
  "$bin/vlm-eval" --run "$work/run" > "$work/eval.log" 2>&1
code=$?
set -e
case $code in 1|2) ;; *) fail "vlm-eval on an escaping question: exit $code: $(tail -n 5 "$work/eval.log")" ;; esac
grep -q "etc/hostname" "$work/eval.log" || fail "vlm-eval's error names no path: $(tail -n 3 "$work/eval.log")"

# The traces: nothing the corpus named outside the root was opened, successfully or not, from
# the moment the corpus file was opened (before it, the C library's start-up reads /etc/passwd
# for its own reasons).
for trace in "$work/shard.trace" "$work/train.trace" "$work/eval.trace"; do
  awk '/(corpus|eval)\.json"/ { on = 1 } on' "$trace" > "$trace.after"
  grep -q '"a/0.jpg"' "$trace.after" || fail "$trace does not show the image opens"
  for path in /etc/hostname /etc/passwd /dev/zero symlink_target; do
    if grep -F "$path" "$trace.after" > /dev/null; then
      fail "$path was opened: $(grep -F "$path" "$trace.after" | head -n 3)"
    fi
  done
done
echo "PASS"
