// vlm-eval --run RUN_DIR: greedy decoding on held-out questions; prints "accuracy <type> <frac>".
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "apps/main_support.h"
#include "worker/evaluate.h"

namespace {

int eval_main(int argc, char** argv) {
  CLI::App app{"vlm-eval: answer held-out synthetic questions with a run's final model"};
  std::string run_dir;
  int64_t limit = 0;
  bool verbose = false;
  app.add_option("--run", run_dir, "run directory written by vlm-worker")->required();
  app.add_option("--limit", limit, "answer at most this many questions (0: all)");
  app.add_flag("--verbose", verbose, "print a few answers");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const auto report = vlm::worker::evaluate_run(run_dir, limit);
  if (verbose) {
    for (const auto& line : report.sample_lines) std::cout << "# " << line << "\n";
  }
  for (const auto& [category, score] : report.by_category) {
    std::printf("accuracy %s %.4f\n", category.c_str(), score.accuracy());
  }
  for (const auto& [category, score] : report.by_category) {
    std::printf("# %s: %lld of %lld correct\n", category.c_str(),
                static_cast<long long>(score.correct), static_cast<long long>(score.total));
  }
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, eval_main); }
