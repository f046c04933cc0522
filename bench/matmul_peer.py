"""fp32 matmul throughput PyTorch reaches on this machine's BLAS: best of --repeats n x n x n
products, printed in GFLOP/s. The BLAS thread count comes from OPENBLAS_NUM_THREADS (it must be
set before torch loads OpenBLAS); bench/matmul.sh and bench/engine.sh set it."""
import argparse
import time

import torch

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--size", type=int, default=2048)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

n = args.size
a, b = torch.randn(n, n), torch.randn(n, n)
c = a @ b  # warm-up: first-touch of the output and BLAS's buffers
best = float("inf")
for _ in range(args.repeats):
    start = time.perf_counter()
    torch.mm(a, b, out=c)
    best = min(best, time.perf_counter() - start)
print(f"{2 * n**3 / best / 1e9:.1f}")
