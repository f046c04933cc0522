#!/usr/bin/env bash
# vlm-shard throughput on a 558K-format corpus (20K records, 64 px JPEGs), 1 and 2 ranks, next to
# (a) a Python converter using h5py well (bench/shard_h5py.py, one process) and (b) the bare cost
# of reading the same image files (cat, 2 processes, page cache warm). Best of 3 runs each.
# Prints a table and writes bench/results/shard.json.
#
# VLM_BENCH_SHARD_30M=1 also shards a VoRA-style JSON Lines corpus of VLM_BENCH_SHARD_RECORDS
# (default 30,000,000) records whose images come from a pool of 10,000 JPEGs
# (VLM_BENCH_SHARD_POOL_SIZE px, default 16: 30M stored images at 64 px would need ~120 GB of
# disk), on 2 ranks: wall time and peak RSS per rank. Needs ~35 GB free under VLM_BENCH_DIR.
source "$(dirname "$0")/lib.sh"
records=20000
runs=3

"$bin/vlm-synth" --out "$work/c" --captions $records --instructions 0 --vora 0 --eval 1 \
  --image-size 64 --threads 2 > /dev/null
corpus=$work/c/blip_laion_cc_sbu_558k.json
find "$work/c/images" -name '*.jpg' | sort > "$work/files.txt"
xargs -a "$work/files.txt" -n 2000 cat > /dev/null  # warm the page cache

now() { date +%s.%N; }
# best SECONDS...: the smallest.
best() { printf '%s\n' "$@" | sort -g | head -n 1; }

bare=()
for _ in $(seq $runs); do
  t0=$(now)
  xargs -a "$work/files.txt" -P 2 -n 2000 cat > /dev/null
  bare+=("$(echo "$(now) - $t0" | bc -l)")
done

python_in=(); python_wall=()
for _ in $(seq $runs); do
  rm -rf "$work/py"
  t0=$(now)
  line=$("$VLM_PYTHON" "$root/bench/shard_h5py.py" --input "$corpus" \
    --image-root "$work/c/images" --out "$work/py")
  python_wall+=("$(echo "$(now) - $t0" | bc -l)")
  python_in+=("$(echo "$line" | "$VLM_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')")
done

declare -A shard_in shard_wall
for ranks in 1 2; do
  ins=(); walls=()
  for _ in $(seq $runs); do
    rm -rf "$work/out"
    t0=$(now)
    line=$(mpirun --oversubscribe -np $ranks "$bin/vlm-shard" --input "$corpus" \
      --image-root "$work/c/images" --out "$work/out" 2> /dev/null | tail -n 1)
    walls+=("$(echo "$(now) - $t0" | bc -l)")
    ins+=("$(echo "$line" | sed -E 's/.*, ([0-9.]+) s, .*/\1/')")
  done
  shard_in[$ranks]=$(best "${ins[@]}")
  shard_wall[$ranks]=$(best "${walls[@]}")
done

rate() { echo "$records / $1" | bc -l | xargs printf '%.0f'; }
bare_rate=$(rate "$(best "${bare[@]}")")
python_rate=$(rate "$(best "${python_in[@]}")")
python_wall_rate=$(rate "$(best "${python_wall[@]}")")
printf "\n%-34s %16s %16s %10s %10s\n" "20K records, 64 px JPEG" "records/s" "incl. start-up" "vs python" "vs bare"
row() {  # row NAME RATE WALL_RATE
  printf "%-34s %16s %16s %9.2fx %9.0f%%\n" "$1" "$2" "$3" "$(echo "$2 / $python_rate" | bc -l)" \
    "$(echo "100 * $2 / $bare_rate" | bc -l)"
}
row "bare read (cat, 2 processes)" "$bare_rate" "$bare_rate"
row "python + h5py (1 process)" "$python_rate" "$python_wall_rate"
json_rows=()
for ranks in 1 2; do
  r=$(rate "${shard_in[$ranks]}")
  w=$(rate "${shard_wall[$ranks]}")
  row "vlm-shard, $ranks rank(s)" "$r" "$w"
  json_rows+=("{\"ranks\": $ranks, \"records_per_s\": $r, \"records_per_s_with_startup\": $w}")
done
echo "(records/s: the job's own timing, best of $runs; incl. start-up: wall clock of the command, mpirun or python3 included)"

thirty_json=null
if [ "${VLM_BENCH_SHARD_30M:-0}" = 1 ]; then
  big=${VLM_BENCH_SHARD_RECORDS:-30000000}
  pool_px=${VLM_BENCH_SHARD_POOL_SIZE:-16}
  "$bin/vlm-synth" --out "$work/pool" --captions 10000 --instructions 0 --vora 0 --eval 1 \
    --image-size "$pool_px" --threads 2 > /dev/null
  "$VLM_PYTHON" "$root/bench/pool_corpus.py" --pool "$work/pool/images" --records "$big" \
    --out "$work/pool/big.jsonl"
  rm -rf "$work/big"
  t0=$(now)
  mpirun --oversubscribe -np 2 /usr/bin/time -f "peak_rss_kb %M" "$bin/vlm-shard" \
    --input "$work/pool/big.jsonl" --image-root "$work/pool/images" --out "$work/big" \
    > "$work/big.txt" 2>&1
  big_wall=$(echo "$(now) - $t0" | bc -l)
  rss=$(awk '/peak_rss_kb/ { print $2 }' "$work/big.txt" | sort -n | tail -n 1)
  size=$(du -sb "$work/big" | cut -f1)
  printf "\n%s records (JSON Lines, %s px pool of 10,000 JPEGs), 2 ranks: %.0f s wall, peak RSS per rank %.0f MiB, %.1f GB of shards\n" \
    "$big" "$pool_px" "$big_wall" "$(echo "$rss / 1024" | bc -l)" "$(echo "$size / 1000000000" | bc -l)"
  grep "^vlm-shard:" "$work/big.txt"
  thirty_json="{\"records\": $big, \"pool_image_px\": $pool_px, \"ranks\": 2, \"wall_s\": $big_wall, \"peak_rss_kb_per_rank\": $rss, \"shard_bytes\": $size}"
fi

cat > "$results/shard.json" <<JSON
{"records": $records, "image_px": 64,
 "bare_read_files_per_s": $bare_rate,
 "python_h5py_records_per_s": $python_rate, "python_h5py_records_per_s_with_startup": $python_wall_rate,
 "vlm_shard": [$(IFS=,; echo "${json_rows[*]}")],
 "large_jsonl": $thirty_json}
JSON
echo "wrote $results/shard.json"
