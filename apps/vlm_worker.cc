// vlm-worker --recipe R [--set key=value ...]: trains a recipe, stage by stage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "apps/main_support.h"
#include "cluster/world.h"
#include "common/log.h"
#include "common/terminal.h"
#include "coordinator/run_setup.h"
#include "coordinator/run_watch.h"
#include "recipes/load.h"
#include "worker/progress.h"
#include "worker/tensorboard.h"
#include "worker/threads.h"
#include "worker/trainer.h"

namespace {

// A run_dir with "{job_id}" is named after the Slurm job: every attempt of a requeued job
// resumes the same run. The expanded name goes in as an override, so recipe.yaml and the
// checkpoints hold the directory actually used.
vlm::recipes::Recipe load_recipe(const std::string& path, std::vector<std::string> overrides,
                                 const vlm::cluster::World& world) {
  const auto recipe = vlm::recipes::load(path, overrides);
  const std::string run_dir = vlm::cluster::expand_job_id(recipe.run_dir, world);
  if (run_dir == recipe.run_dir) return recipe;
  overrides.push_back("run_dir=" + run_dir);
  return vlm::recipes::load(path, overrides);
}

// Rank 0's monitor thread calls this while the training thread may be blocked in a collective
// that waits for the silent rank: the process ends here, and the launcher ends the other ranks.
[[noreturn]] void end_job_for_silent_rank(const vlm::coordinator::RankHeartbeat& rank,
                                          double timeout_s) {
  vlm::log::error(
      "rank {} on host {} sent no heartbeat for {:.1f} s (cluster.heartbeat_timeout_s {}; its "
      "last heartbeat was at step {}): it hangs, was stopped or is unreachable. Ending the job "
      "without a save (exit {}: requeue to resume from the last checkpoint)",
      rank.rank, rank.host, rank.age_s, timeout_s, rank.step, vlm::apps::kExitRankSilent);
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  std::_Exit(vlm::apps::kExitRankSilent);
}

// auto: an in-place line when the output reaches a terminal, plain lines otherwise.
vlm::worker::ProgressStyle progress_style(const std::string& choice) {
  if (choice == "line") return vlm::worker::ProgressStyle::kLine;
  if (choice == "plain") return vlm::worker::ProgressStyle::kPlain;
  return vlm::stdout_reaches_terminal() ? vlm::worker::ProgressStyle::kLine
                                        : vlm::worker::ProgressStyle::kPlain;
}

int worker_main(int argc, char** argv) {
  CLI::App app{"vlm-worker: train a vision-language model from a recipe"};
  std::string recipe_path;
  std::vector<std::string> overrides;
  bool dump_only = false;
  app.add_option("--recipe", recipe_path, "recipe YAML file")->required();
  app.add_option("--set", overrides, "override a recipe key: --set optimizer.lr=2e-5 (repeatable)");
  app.add_flag("--dump-recipe", dump_only, "print the resolved recipe as YAML and exit");
  vlm::worker::TrainOptions train_options;
  app.add_option("--resume", train_options.resume_path,
                 "resume from this checkpoint directory (default: the run's newest valid one)");
  int status_port = -1;
  app.add_option("--status-port", status_port,
                 "serve GET /status and /metrics on this port of rank 0 (0: off; same as --set "
                 "cluster.status_port=N)");
  std::string max_memory;
  app.add_option("--max-memory-per-rank", max_memory,
                 "refuse to start when the memory plan needs more per rank: 1.5GiB, 800MiB, or "
                 "MiB as a plain number (same as --set sharding.max_memory_per_rank_mib=...)");
  std::string progress = "auto";
  app.add_option("--progress", progress,
                 "auto: a line rewritten in place on a terminal, plain log lines otherwise")
      ->check(CLI::IsMember({"auto", "line", "plain"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (!max_memory.empty()) {
    overrides.push_back("sharding.max_memory_per_rank_mib=" +
                        std::to_string(vlm::apps::parse_mib(max_memory, "--max-memory-per-rank")));
  }
  if (status_port >= 0) overrides.push_back("cluster.status_port=" + std::to_string(status_port));
  const auto world = vlm::cluster::detect_world();
  vlm::log::set_rank(world.rank, world.world_size);
  const auto recipe = load_recipe(recipe_path, overrides, world);
  if (dump_only) {
    std::cout << recipe.resolved_yaml;
    return vlm::apps::kExitOk;
  }
  vlm::log::info("vlm-worker: recipe {} on {} rank(s); {}", recipe_path, world.world_size,
                 vlm::worker::blas_description());
  vlm::log::info("{}", vlm::cluster::describe(world, recipe.cluster.backend));
  vlm::log::info("resolved recipe:\n{}", recipe.resolved_yaml);
  const auto layout = vlm::coordinator::prepare_run(recipe, world.is_coordinator());
  // Rank 0 watches the run for people: the progress display and TensorBoard.
  std::unique_ptr<vlm::worker::ProgressDisplay> display;
  std::unique_ptr<vlm::worker::TensorBoardLog> tensorboard;
  if (world.is_coordinator()) {
    const auto style = progress_style(progress);
    display = std::make_unique<vlm::worker::ProgressDisplay>(
        recipe, style, style == vlm::worker::ProgressStyle::kLine ? vlm::terminal_columns() : 0);
    tensorboard = std::make_unique<vlm::worker::TensorBoardLog>(layout.tensorboard());
    vlm::log::info("TensorBoard: {} (tensorboard --logdir {})", tensorboard->path(),
                   layout.tensorboard());
    train_options.observers = {display.get(), tensorboard.get()};
  }
  // Every rank: heartbeats; rank 0 also the status endpoint and the watch over silent ranks.
  const double heartbeat_timeout_s = recipe.cluster.heartbeat_timeout_s;
  vlm::coordinator::RunWatch watch(recipe.cluster, layout.root, world, [=](const auto& rank) {
    end_job_for_silent_rank(rank, heartbeat_timeout_s);
  });
  train_options.observers.push_back(&watch);
  train_options.on_communicator = [&watch](vlm::cluster::Communicator& comm) {
    watch.connect(comm);
  };
  const auto outcome = vlm::worker::train(recipe, layout, world, train_options);
  if (outcome.preempted) {
    vlm::log::info("preempted: state saved; run the same command again to resume (exit {})",
                   vlm::apps::kExitPreempted);
    return vlm::apps::kExitPreempted;
  }
  vlm::log::info("final model: {}", layout.final_model());
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, worker_main); }
