"""Matmul throughput PyTorch reaches on this machine: best of --repeats n x n x n products,
printed in GFLOP/s; fp32 through the BLAS, bf16 (--dtype bf16) through oneDNN. The BLAS thread
count comes from OPENBLAS_NUM_THREADS (it must be set before torch loads OpenBLAS);
bench/matmul.sh and bench/engine.sh set it, and OMP_NUM_THREADS for oneDNN."""
import argparse
import time

import torch

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--size", type=int, default=2048)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
args = parser.parse_args()

n = args.size
dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
c = a @ b  # warm-up: first-touch of the output and BLAS's buffers
best = float("inf")
for _ in range(args.repeats):
    start = time.perf_counter()
    torch.mm(a, b, out=c)
    best = min(best, time.perf_counter() - start)
print(f"{2 * n**3 / best / 1e9:.1f}")
