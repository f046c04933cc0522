#include "worker/threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace vlm::worker {
namespace {

// OpenBLAS's own controls, looked up at run time: torch links the generic libblas.so.3, which
// Debian's alternatives may point at OpenBLAS or at the reference BLAS.
using SetThreadsFn = void (*)(int);
using GetConfigFn = char* (*)();
using GetCoreFn = char* (*)();

template <typename Fn>
Fn blas_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

}  // namespace

ThreadPlan plan_threads(int requested, int local_ranks) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int per_rank = std::max(1, cores / std::max(1, local_ranks));
  ThreadPlan plan;
  // GEMMs dominate; elementwise work on small tensors does not gain from more threads.
  plan.blas_threads = requested > 0 ? requested : per_rank;
  plan.torch_threads = 1;
  return plan;
}

void apply_threads(const ThreadPlan& plan) {
  at::set_num_threads(plan.torch_threads);
  if (auto set_blas = blas_symbol<SetThreadsFn>("openblas_set_num_threads")) {
    set_blas(plan.blas_threads);
  }
}

std::string blas_description() {
  auto config = blas_symbol<GetConfigFn>("openblas_get_config");
  if (!config) return "unknown BLAS (not OpenBLAS: expect reference-BLAS speed)";
  std::string text = config();
  if (auto core = blas_symbol<GetCoreFn>("openblas_get_corename"))
    text += std::string(" core=") + core();
  return text;
}

double measure_matmul_gflops(int n, int repeats, recipes::ComputeDtype dtype) {
  const auto options =
      at::TensorOptions().dtype(dtype == recipes::ComputeDtype::kBf16 ? at::kBFloat16 : at::kFloat);
  const at::Tensor a = at::randn({n, n}, options);
  const at::Tensor b = at::randn({n, n}, options);
  at::Tensor c = at::mm(a, b);  // warm-up: thread start, page faults
  double best_seconds = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best_seconds = std::min(best_seconds, took.count());
  }
  return 2.0 * n * n * static_cast<double>(n) / best_seconds / 1e9;
}

}  // namespace vlm::worker
