#!/usr/bin/env bash
# fp32 matmul throughput LibTorch reaches here, by BLAS threads, next to PyTorch's (Debian's
# python3-torch) on the same BLAS. Prints a table and writes bench/results/matmul.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/env.sh"
bin=${VLM_BUILD_DIR:-$root/build}/bin
out=$root/bench/results
mkdir -p "$out"
rows=()
printf "%-8s %-8s %-12s %-12s\n" size threads vlmtrain_gflops pytorch_gflops
for threads in 1 2; do
  ours=$("$bin/vlm-info" --size 2048 --threads "$threads" | awk '$1 == "matmul_gflops" { print $4 }')
  peer=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$VLM_PYTHON" - <<'PY'
import time, torch
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
c = a @ b
best = min((lambda t0: (torch.mm(a, b, out=c), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print(f"{2 * 2048**3 / best / 1e9:.1f}")
PY
)
  printf "%-8s %-8s %-12s %-12s\n" 2048 "$threads" "$ours" "$peer"
  rows+=("{\"size\": 2048, \"threads\": $threads, \"vlmtrain_gflops\": $ours, \"pytorch_gflops\": $peer}")
done
(IFS=,; echo "[${rows[*]}]") > "$out/matmul.json"
echo "wrote $out/matmul.json"
