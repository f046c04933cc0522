// vlm-bench-engine --recipe R [--set k=v] [--steps N] [--warmup W] [--batch B] [--seq T]
//   [--json OUT]: timed training steps of R's model on random tokens through the sharded engine
// (run it under mpirun); rank 0 prints one JSON line (throughput, peak memory, the memory plan)
// and writes it to OUT. bench/engine.sh and the memory-plan test call it.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "apps/main_support.h"
#include "cluster/communicator.h"
#include "common/error.h"
#include "common/log.h"
#include "recipes/load.h"
#include "worker/engine_bench.h"
#include "worker/objective_kinds.h"

namespace {

int bench_main(int argc, char** argv) {
  CLI::App app{"vlm-bench-engine: time training steps of the sharded engine"};
  std::string recipe_path, json_path;
  std::vector<std::string> overrides;
  vlm::worker::EngineBenchOptions options;
  app.add_option("--recipe", recipe_path, "recipe YAML file")->required();
  app.add_option("--set", overrides, "override a recipe key (repeatable)");
  app.add_option("--steps", options.steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--batch", options.batch, "sequences per rank")->check(CLI::PositiveNumber);
  app.add_option("--seq", options.seq, "tokens per sequence")->check(CLI::Range(2, 1 << 20));
  app.add_option("--json", json_path, "also write the result here");
  app.add_flag("--track-memory", options.track_memory,
               "make resident memory follow live tensors (slower; for checking the memory plan)");
  app.add_option("--checkpoint", options.checkpoint_dir,
                 "after the timed steps, save a checkpoint into this folder and resume from it");
  app.add_option(
      "--trace", options.trace_prefix,
      "profile the timed steps op by op; rank r writes a Chrome trace to <PREFIX><r>.json");
  bool glibc_heap = false;
  app.add_flag("--glibc-heap", glibc_heap,
               "allocate tensors from glibc's heap instead of the caching allocator");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  options.caching_allocator = !glibc_heap;
  auto comm = vlm::cluster::open_communicator();
  vlm::log::set_rank(comm->rank(), comm->size());
  const auto recipe = vlm::recipes::load(recipe_path, vlm::worker::objective_kinds(), overrides);
  comm->set_timeout(recipe.cluster.timeout_s);
  const auto result = vlm::worker::run_engine_bench(recipe, options, *comm);
  if (comm->is_root()) {
    std::cout << result.to_json() << std::endl;
    if (!json_path.empty()) {
      std::ofstream out(json_path);
      out << result.to_json() << "\n";
      VLM_CHECK(out.good(), IoError, "cannot write ", json_path);
    }
  }
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, bench_main); }
