#!/usr/bin/env bash
# Issue 18: a manifest whose stage_index is past the recipe's stages used to verify ok and, on
# resume, end the run with exit 0, no steps, "final model: ..." logged and no final/ written. Now
# `vlm-ckpt verify` reports it (against the recipe the manifest carries) and a resumed run skips
# it, saying why, for the checkpoint before it, or starts fresh when none is left; either way it
# trains and writes final/.
source "$(dirname "$0")/lib.sh"

"$bin/vlm-synth" --out "$work/c" --seed 5 --captions 8 --instructions 48 --vora 0 --eval 1 \
  --threads 1 > /dev/null
recipe=$src_dir/tests/e2e/recipes/sharded_mix.yaml
common=(--set data.corpus_dir="$work/c" --set training.max_steps=6 --set checkpoint.every_steps=3
        --set checkpoint.keep_last=2 --set cluster.heartbeat_interval_s=0)
# train NAME: the one-stage run into $work/NAME (one rank), its output appended to $work/NAME.log.
train() {
  "$bin/vlm-worker" --recipe "$recipe" "${common[@]}" --set run_dir="$work/$1" \
    >> "$work/$1.log" 2>&1 || { tail -n 20 "$work/$1.log"; fail "$1: exit $?"; }
}
# steps_of NAME: the steps metrics.jsonl logged, in order.
steps_of() {
  /usr/bin/python3 -c 'import json, sys
print(" ".join(str(r["step"]) for r in map(json.loads, open(sys.argv[1])) if "loss" in r))' \
    "$work/$1/metrics.jsonl"
}
# stage_99 MANIFEST: its stage_index set to 99 (the manifest carries no checksum of itself).
stage_99() {
  /usr/bin/python3 -c 'import json, sys
m = json.load(open(sys.argv[1])); m["stage_index"] = 99
json.dump(m, open(sys.argv[1], "w"), indent=1)' "$1"
}

train run
old=s00-step-00000003
new=s00-step-00000006
[ -d "$work/run/checkpoints/$new" ] && [ -d "$work/run/checkpoints/$old" ] ||
  fail "checkpoints: $(ls "$work/run/checkpoints")"
"$bin/vlm-ckpt" verify "$work/run" > /dev/null || fail "a fresh run's checkpoints do not verify"

# The newest checkpoint's stage 99: verify names it and the reason; the run resumes from step 3.
cp -r "$work/run" "$work/past"
rm -rf "$work/past/final"
stage_99 "$work/past/checkpoints/$new/manifest.json"
code=0
"$bin/vlm-ckpt" verify "$work/past" > "$work/verify.txt" 2>&1 || code=$?
[ "$code" -eq 1 ] || fail "vlm-ckpt verify: exit $code: $(cat "$work/verify.txt")"
grep -q "^DAMAGED .*$new" "$work/verify.txt" || fail "verify: $(cat "$work/verify.txt")"
grep -q "stage_index 99 but its recipe has 1 stage(s)" "$work/verify.txt" ||
  fail "verify gives no reason: $(cat "$work/verify.txt")"
grep -q "^ok .*$old" "$work/verify.txt" || fail "verify: $(cat "$work/verify.txt")"
"$bin/vlm-ckpt" list "$work/past" | grep -q "$new .*damaged" || fail "list does not flag $new"
train past
grep -q "checkpoint skipped: $new: stage_index 99 but the recipe has 1 stage(s)" "$work/past.log" ||
  fail "the skip is not logged: $(grep -m 3 'checkpoint\|resum' "$work/past.log")"
grep -q "resuming from .*$old" "$work/past.log" || fail "did not resume from $old"
[ "$(steps_of past)" = "1 2 3 4 5 6 4 5 6" ] || fail "steps: $(steps_of past)"
[ -d "$work/past/final" ] || fail "the resumed run wrote no final/"

# Both checkpoints' stage 99: nothing to resume from, so the run starts fresh and finishes.
cp -r "$work/run" "$work/none"
rm -rf "$work/none/final"
stage_99 "$work/none/checkpoints/$new/manifest.json"
stage_99 "$work/none/checkpoints/$old/manifest.json"
train none
[ "$(grep -c "checkpoint skipped: .*stage_index 99" "$work/none.log")" -eq 2 ] ||
  fail "the two skips are not logged: $(grep 'checkpoint' "$work/none.log")"
! grep -q "resuming from" "$work/none.log" || fail "resumed from a checkpoint past the recipe"
[ "$(steps_of none)" = "1 2 3 4 5 6 1 2 3 4 5 6" ] || fail "steps: $(steps_of none)"
[ -d "$work/none/final" ] || fail "the fresh run wrote no final/"
echo "PASS"
