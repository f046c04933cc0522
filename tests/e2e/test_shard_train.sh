#!/usr/bin/env bash
# The trainer reads shards: the tiny two-stage recipe, switched to shard folders with one --set
# per stage, trains the same steps to the same losses as from the JSON corpus the shards came
# from (the loader gives identical batches, so only float noise may differ).
source "$(dirname "$0")/lib.sh"

"$bin/vlm-synth" --out "$work/c" --seed 3 --captions 400 --instructions 300 --vora 8 --eval 1 \
  --threads 1 > /dev/null
# The caption file's image paths are relative to images/, the instruction file's to the root.
mpirun --oversubscribe -np 2 "$bin/vlm-shard" --input "$work/c/blip_laion_cc_sbu_558k.json" \
  --image-root "$work/c/images" --out "$work/c/shards/captions" --samples-per-shard 128 \
  > "$work/shard1.log" 2>&1 || fail "vlm-shard (captions) failed: $(cat "$work/shard1.log")"
mpirun --oversubscribe -np 2 "$bin/vlm-shard" --input "$work/c/llava_v1_5_mix665k.json" \
  --image-root "$work/c" --out "$work/c/shards/mix" --samples-per-shard 128 \
  > "$work/shard2.log" 2>&1 || fail "vlm-shard (instructions) failed: $(cat "$work/shard2.log")"

recipe=$src_dir/recipes/tiny/llava_two_stage.yaml
common=(--set data.corpus_dir="$work/c" --set stages.0.training.max_steps=3
        --set stages.1.training.max_steps=3)
# train NAME ARGS...: one run into $work/NAME.
train() {
  local name=$1; shift
  "$bin/vlm-worker" --recipe "$recipe" "${common[@]}" --set run_dir="$work/$name" "$@" \
    > "$work/$name.log" 2>&1 || { tail -n 30 "$work/$name.log"; fail "$name run failed"; }
}
# The recipe reads shards/captions and shards/mix under corpus_dir (where they were written);
# naming json in a stage drops its shards.
train json --set stages.0.data.json=blip_laion_cc_sbu_558k.json --set stages.0.data.image_root=images \
  --set stages.1.data.json=llava_v1_5_mix665k.json
train shards

grep -q "shards: shards/mix" "$work/shards/recipe.yaml" || fail "recipe.yaml does not name the shards"
/usr/bin/python3 - "$work/json/metrics.jsonl" "$work/shards/metrics.jsonl" <<'PY' || fail "losses differ"
import json, sys
def losses(path):
    return [(r["stage"], r["step"], r["loss"]) for r in map(json.loads, open(path)) if "loss" in r]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert len(a) == 6, f"expected 3 + 3 steps, got {a}"
assert [x[:2] for x in a] == [x[:2] for x in b], (a, b)
for (stage, step, la), (_, _, lb) in zip(a, b):
    print(f"{stage} step {step}: json {la:.7f} shards {lb:.7f}")
    assert abs(la - lb) <= 1e-5 * max(1.0, abs(la)), f"{stage} step {step}: {la} vs {lb}"
PY
echo "PASS"
