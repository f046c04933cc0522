#!/usr/bin/env bash
# vlm-ckpt lists, verifies and exports a run's checkpoints (the export equals the run's own final
# model). Damaged checkpoints are found and passed over: a truncated rank file, a flipped byte and a
# missing manifest each make `vlm-ckpt verify` fail naming the file, and a resumed job skips that
# checkpoint for the one before, saying why. A save written on a thread while training went on
# holds the state of its step: the same bytes as a save written with the step loop stopped.
source "$(dirname "$0")/lib.sh"
source "$src_dir/tests/e2e/ckpt_lib.sh"
common+=(--set training.max_steps=12 --set checkpoint.every_steps=4)

launch run 2 || { tail -n 30 "$work/run.log"; fail "run failed"; }
"$bin/vlm-ckpt" list "$work/run"
"$bin/vlm-ckpt" verify "$work/run" > /dev/null || fail "a fresh run's checkpoints do not verify"
newest=s00-step-00000012
previous=s00-step-00000008

# The last checkpoint exported is the final model the run wrote itself (LoRA merged), exactly.
"$bin/vlm-ckpt" export --hf "$work/exported" "$work/run/checkpoints/$newest" > "$work/export.log" 2>&1 \
  || { tail -n 20 "$work/export.log"; fail "export failed"; }
/usr/bin/python3 - "$work/run/final" "$work/exported" "$src_dir/tests/e2e" <<'PY' || fail "export differs"
import pathlib, sys
sys.path.insert(0, sys.argv[3])
from compare_runs import read_safetensors
final, exported = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
names = sorted(p.relative_to(final) for p in final.rglob("*.safetensors"))
assert names, "no safetensors in the final export"
for rel in names:
    a, b = read_safetensors(final / rel), read_safetensors(exported / rel)
    assert a.keys() == b.keys(), f"{rel}: names differ"
    for name in a:
        same = a[name].shape == b[name].shape and a[name].tobytes() == b[name].tobytes()
        assert same, f"{rel}: {name} differs"
print(f"export: {len(names)} file(s) equal to the run's final model")
PY

# damage KIND FILE: copy the run, damage its newest checkpoint, expect verify and resume to react.
damage() {
  local kind=$1 file=$2 copy=$work/run_$1
  cp -r "$work/run" "$copy"
  local target=$copy/checkpoints/$newest/$file
  case $kind in
    truncated) truncate -s -100 "$target" ;;
    flipped) printf '\xff' | dd of="$target" bs=1 seek=$(( $(stat -c %s "$target") / 2 )) conv=notrunc status=none ;;
    missing) rm "$target" ;;
  esac
  local code=0
  "$bin/vlm-ckpt" verify "$copy/checkpoints/$newest" > "$work/verify_$kind.log" || code=$?
  [ "$code" -ne 0 ] || fail "$kind $file: verify passed"
  grep -q "$file" "$work/verify_$kind.log" || { cat "$work/verify_$kind.log"; fail "$kind: verify does not name $file"; }
  # The same job, two more steps: it must start from the previous checkpoint.
  mpirun --oversubscribe -np 2 "$bin/vlm-worker" --recipe "$recipe" "${common[@]}" \
    --set run_dir="$copy" --set training.max_steps=14 > "$work/resume_$kind.log" 2>&1 \
    || { tail -n 20 "$work/resume_$kind.log"; fail "$kind: the resumed job failed"; }
  grep "checkpoint skipped" "$work/resume_$kind.log" | grep -q "$file" \
    || { tail -n 20 "$work/resume_$kind.log"; fail "$kind: resume does not say it skipped $file"; }
  grep -q "resuming from .*$previous" "$work/resume_$kind.log" || fail "$kind: did not resume from $previous"
  echo "$kind $file: $(grep -m1 "checkpoint skipped" "$work/resume_$kind.log" | sed 's/.*checkpoint skipped: //')"
}
damage truncated rank-00001.h5
damage flipped rank-00000.h5
damage missing manifest.json

# Written on a thread or with the loop stopped: the same state, the same bytes.
launch sync 2 --set checkpoint.async=false || fail "sync run failed"
for tag in s00-step-00000008 s00-step-00000012; do
  for r in 0 1; do
    cmp -s "$work/run/checkpoints/$tag/rank-0000$r.h5" "$work/sync/checkpoints/$tag/rank-0000$r.h5" \
      || fail "$tag rank $r: the asynchronous save differs from the synchronous one"
  done
done
grep -o '"checkpoint_blocked_ms":[0-9.]*' "$work/run/metrics.jsonl" | head -3
echo "PASS"
