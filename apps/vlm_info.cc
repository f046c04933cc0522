// vlm-info: what this machine gives a training run (cores, BLAS, matmul throughput).
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <thread>

#include "apps/main_support.h"
#include "worker/threads.h"

namespace {

int info_main(int argc, char** argv) {
  CLI::App app{"vlm-info: report BLAS and matmul throughput"};
  int size = 2048;
  int threads = 2;
  std::string dtype_word = "fp32";
  app.add_option("--size", size, "matrix size n of the n x n x n product");
  app.add_option("--threads", threads, "BLAS threads for the measurement");
  app.add_option("--dtype", dtype_word, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  vlm::worker::apply_threads({1, threads});
  std::printf("cores: %u\n", std::thread::hardware_concurrency());
  std::printf("blas: %s\n", vlm::worker::blas_description().c_str());
  const auto dtype =
      dtype_word == "bf16" ? vlm::recipes::ComputeDtype::kBf16 : vlm::recipes::ComputeDtype::kFp32;
  const double gflops = vlm::worker::measure_matmul_gflops(size, 5, dtype);
  std::printf("matmul_gflops %d %d %.1f\n", size, threads, gflops);
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, info_main); }
