#!/usr/bin/env bash
# vlm-shard on 1, 2 and 4 ranks writes byte-identical shard files, index.json and skipped.jsonl;
# samples in = samples written + samples skipped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_lib.sh"

"$bin/vlm-synth" --out "$work/c" --captions 300 --instructions 120 --vora 120 --eval 1 \
  --image-size 32 --threads 1 > /dev/null
# One broken image, so skipped.jsonl is not empty.
printf 'not a jpeg' > "$work/c/images/00000/$(ls "$work/c/images/00000" | head -n 1)"
args=(--input "$work/c/blip_laion_cc_sbu_558k.json:image_root=$work/c/images"
      --input "$work/c/llava_v1_5_mix665k.json:weight=0.5"
      --input "$work/c/vora_30m.jsonl:weight=2" --samples-per-shard 50)
for ranks in 1 2 4; do
  shard_mpi "$ranks" "${args[@]}" --out "$work/out$ranks" > "$work/log$ranks.txt" 2>&1 ||
    fail "vlm-shard on $ranks rank(s) failed: $(cat "$work/log$ranks.txt")"
done
same_folders "$work/out1" "$work/out2"
same_folders "$work/out1" "$work/out4"
[ "$(ls "$work/out1"/shard-*.h5 | wc -l)" -eq 12 ] || fail "expected 6 + 3 + 3 shards"

read_count=$(index_total "$work/out1" records_read)
written=$(index_total "$work/out1" samples_written)
skipped=$(index_total "$work/out1" skipped)
[ "$read_count" -eq 540 ] || fail "records_read $read_count, want 540"
[ "$skipped" -eq 1 ] || fail "skipped $skipped, want 1"
[ $((written + skipped)) -eq "$read_count" ] || fail "$written + $skipped != $read_count"
[ "$(wc -l < "$work/out1/skipped.jsonl")" -eq 1 ] || fail "skipped.jsonl is not one line"
grep -q '"reason":"undecodable_image"' "$work/out1/skipped.jsonl" || fail "wrong skip reason"
"$bin/vlm-shard" --verify "$work/out4" > /dev/null || fail "--verify rejects a good folder"
echo "PASS"
