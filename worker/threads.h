// Thread budget: torch's intra-op pool and OpenBLAS's pool share the cores of this rank. Two
// pools that both spin on the same 2 cores made small-model steps ~1.6x slower here, so the
// budget is given out deliberately.
#pragma once

#include <string>

#include "recipes/recipe.h"

namespace vlm::worker {

struct ThreadPlan {
  int torch_threads = 1;
  int blas_threads = 1;
};

// requested: training.num_threads (0: automatic). local_ranks: ranks sharing this machine.
ThreadPlan plan_threads(int requested, int local_ranks);
void apply_threads(const ThreadPlan& plan);

// "OpenBLAS 0.3.21 ... SkylakeX" when OpenBLAS is the loaded BLAS; else "unknown BLAS".
std::string blas_description();

// GEMM throughput of an n x n x n product of `dtype` (fp32: OpenBLAS; bf16: LibTorch's oneDNN
// kernels where the CPU has them), best of `repeats`, in GFLOP/s.
double measure_matmul_gflops(int n, int repeats, recipes::ComputeDtype dtype);

}  // namespace vlm::worker
