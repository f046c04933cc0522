#!/usr/bin/env bash
# Checkpoint write bandwidth and resume time against a plain sequential write of the same bytes
# on the same disk, in one run: vlm-bench-engine trains bench/checkpoint_model.yaml (138M
# parameters) for one step on 2 ranks at ZeRO stage 3, saves a checkpoint synchronously (each rank
# its HDF5 file, fsynced, then the manifest and the atomic rename) and resumes from it (checksums
# verified, slices read); then one dd per rank file copies the same bytes, fsynced, all at once.
# Prints a table and writes bench/results/checkpoint.json. Target: the checkpoint writes at >= 70%
# of dd's bandwidth. A benchmark: exits 0 whether it passes.
source "$(dirname "$0")/lib.sh"
echo "checkpoint (2 ranks, stage 3) ..." >&2
mpirun -np 2 --bind-to none "$bin/vlm-bench-engine" --recipe "$root/bench/checkpoint_model.yaml" \
  --set sharding.stage=3 --batch 1 --seq 16 --warmup 0 --steps 1 --checkpoint "$work/ckpt" \
  --json "$work/ckpt.json" > "$work/ckpt.log" 2>&1 || { tail -n 20 "$work/ckpt.log"; exit 1; }
# The same bytes, written plainly: each rank's file copied by its own dd (the source is in the page
# cache: the resume just read it), fsynced, both at once.
files=("$work"/ckpt/*/rank-*.h5)
sync
echo "dd, ${#files[@]} writers of the checkpoint's files ..." >&2
start=$(date +%s.%N)
for i in "${!files[@]}"; do
  dd if="${files[$i]}" of="$work/dd$i" bs=4M conv=fsync status=none &
done
wait
end=$(date +%s.%N)
dd_bytes=$(cat "$work"/dd* | wc -c)
rm -rf "$work"/dd* "$work/ckpt"
"$VLM_PYTHON" - "$work/ckpt.json" "$start" "$end" "$dd_bytes" "$results/checkpoint.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
dd_s = float(sys.argv[3]) - float(sys.argv[2])
mb = r["checkpoint_bytes"] / 1e6
dd_bytes = int(sys.argv[4]) / 1e6
rows = {"checkpoint_mb": mb, "checkpoint_write_s": r["checkpoint_write_s"],
        "checkpoint_mb_per_s": mb / r["checkpoint_write_s"], "dd_mb": dd_bytes, "dd_s": dd_s,
        "dd_mb_per_s": dd_bytes / dd_s, "resume_s": r["checkpoint_resume_s"],
        "params": r["params"], "world_size": r["world_size"], "stage": r["stage"]}
rows["fraction_of_dd"] = rows["checkpoint_mb_per_s"] / rows["dd_mb_per_s"]
print(f"\n{'':<22} {'MB':>8} {'s':>8} {'MB/s':>8}")
print(f"{'vlmtrain checkpoint':<22} {mb:>8.0f} {r['checkpoint_write_s']:>8.2f} {rows['checkpoint_mb_per_s']:>8.0f}")
print(f"{'dd, same bytes':<22} {dd_bytes:>8.0f} {dd_s:>8.2f} {rows['dd_mb_per_s']:>8.0f}")
print(f"{'resume (verify+load)':<22} {mb:>8.0f} {r['checkpoint_resume_s']:>8.2f} {mb / r['checkpoint_resume_s']:>8.0f}")
verdict = "PASS" if rows["fraction_of_dd"] >= 0.7 else "FAIL"
print(f"{verdict:<6} checkpoint write >= 70% of dd's bandwidth: {100 * rows['fraction_of_dd']:.0f}%")
rows["target_passed"] = verdict == "PASS"
json.dump(rows, open(sys.argv[5], "w"), indent=1)
print("wrote", sys.argv[5])
PY
