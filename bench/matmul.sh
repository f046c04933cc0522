#!/usr/bin/env bash
# fp32 matmul throughput LibTorch reaches here, by BLAS threads, next to PyTorch's (Debian's
# python3-torch) on the same BLAS. Prints a table and writes bench/results/matmul.json.
source "$(dirname "$0")/lib.sh"
rows=()
printf "%-8s %-8s %-12s %-12s\n" size threads vlmtrain_gflops pytorch_gflops
for threads in 1 2; do
  ours=$("$bin/vlm-info" --size 2048 --threads "$threads" | awk '$1 == "matmul_gflops" { print $4 }')
  peer=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$VLM_PYTHON" "$root/bench/matmul_peer.py" --size 2048)
  printf "%-8s %-8s %-12s %-12s\n" 2048 "$threads" "$ours" "$peer"
  rows+=("{\"size\": 2048, \"threads\": $threads, \"vlmtrain_gflops\": $ours, \"pytorch_gflops\": $peer}")
done
(IFS=,; echo "[${rows[*]}]") > "$results/matmul.json"
echo "wrote $results/matmul.json"
