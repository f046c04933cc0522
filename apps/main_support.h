// What every main shares: fast BLAS set-up, error-to-exit-code mapping.
#pragma once

#include <functional>
#include <string>

#include "cluster/launch.h"

namespace vlm::apps {

// Exit codes of every vlm-* program.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // a runtime failure (I/O, format, internal)
constexpr int kExitUsage = 2;  // bad arguments or recipe (ConfigError)
// Saved after a preemption signal: requeue me (EX_TEMPFAIL); the sbatch script tests for it.
constexpr int kExitPreempted = cluster::kPreemptedExitCode;
// vlm-worker's rank 0 heard no heartbeat from a rank for cluster.heartbeat_timeout_s (a hung,
// stopped or unreachable process): the job ends without a save; requeue it to resume from the
// last checkpoint.
constexpr int kExitRankSilent = cluster::kRankSilentExitCode;

// Runs body, turning vlm::Error and std::exception into "program: error: ..." on stderr and an
// exit code. Before body, makes OpenBLAS pick its fast kernels on this CPU (see
// prefer_fast_blas), which may re-execute the program once.
int run_main(int argc, char** argv, const std::function<int(int, char**)>& body);

// "1.5GiB", "800MiB", "2G", "512M" or a plain number of MiB -> MiB. ConfigError naming `flag`
// otherwise.
double parse_mib(const std::string& text, const std::string& flag);

// OpenBLAS reads OPENBLAS_CORETYPE when it loads, before main. On CPUs with AVX-512 that it
// misdetects (as on this project's build VMs) it falls back to slow kernels; so when the variable
// is unset and the CPU has avx512f, set it and re-execute. VLM_NO_REEXEC=1 turns this off.
void prefer_fast_blas(char** argv);

}  // namespace vlm::apps
