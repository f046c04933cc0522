#!/usr/bin/env bash
# A vlm-shard run killed midway (ranks SIGKILLed in the middle of a shard) and started again,
# on another number of ranks, gives exactly the files of an uninterrupted run: finished shards
# are kept, the partial one is redone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_lib.sh"

"$bin/vlm-synth" --out "$work/c" --captions 600 --instructions 0 --vora 200 --eval 1 \
  --image-size 32 --threads 1 > /dev/null
args=(--input "$work/c/blip_laion_cc_sbu_558k.json:image_root=$work/c/images"
      --input "$work/c/vora_30m.jsonl" --samples-per-shard 50)
shard_mpi 2 "${args[@]}" --out "$work/reference" > "$work/reference.txt" 2>&1 ||
  fail "uninterrupted run failed: $(cat "$work/reference.txt")"

# Each rank SIGKILLs itself halfway through its third shard (a test-only hook).
set +e
VLM_SHARD_TEST_KILL_AFTER=2 shard_mpi 2 "${args[@]}" --out "$work/out" > "$work/killed.txt" 2>&1
code=$?
set -e
[ "$code" -ne 0 ] || fail "the killed run reported success"
no_shard_processes
[ ! -e "$work/out/index.json" ] || fail "a killed run left an index.json"
finished=$(ls "$work/out"/shard-*.h5 2> /dev/null | wc -l)
[ "$finished" -ge 2 ] && [ "$finished" -lt 16 ] || fail "$finished shards finished before the kill"
ls "$work/out"/*.tmp > /dev/null 2>&1 || fail "the kill left no partial shard to clean up"
for f in "$work/out"/shard-*.h5; do
  cmp -s "$f" "$work/reference/$(basename "$f")" || fail "finished shard $f differs"
done

# Rerun on 3 ranks: the finished shards are kept, the rest written, nothing else differs.
shard_mpi 3 "${args[@]}" --out "$work/out" > "$work/resumed.txt" 2>&1 ||
  fail "the rerun failed: $(cat "$work/resumed.txt")"
grep -q "written, $finished kept" "$work/resumed.txt" || fail "rerun did not keep $finished: $(cat "$work/resumed.txt")"
same_folders "$work/reference" "$work/out"

# A third run keeps everything and changes nothing.
shard_mpi 2 "${args[@]}" --out "$work/out" > "$work/again.txt" 2>&1 || fail "third run failed"
grep -q "(0 written, 16 kept" "$work/again.txt" || fail "third run rewrote shards: $(cat "$work/again.txt")"
same_folders "$work/reference" "$work/out"
echo "PASS"
