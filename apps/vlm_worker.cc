// vlm-worker --recipe R [--set key=value ...]: trains a recipe, stage by stage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "apps/main_support.h"
#include "checkpoint/run_layout.h"
#include "cluster/world.h"
#include "common/log.h"
#include "common/terminal.h"
#include "monitor/run_monitor.h"
#include "recipes/load.h"
#include "worker/objective_kinds.h"
#include "worker/placement.h"
#include "worker/run_inputs.h"
#include "worker/run_plan.h"
#include "worker/threads.h"
#include "worker/trainer.h"

namespace {

// A run_dir with "{job_id}" is named after the Slurm job: every attempt of a requeued job
// resumes the same run. The expanded name goes in as an override, so recipe.yaml and the
// checkpoints hold the directory actually used.
vlm::recipes::Recipe load_recipe(const std::string& path, std::vector<std::string> overrides,
                                 const vlm::cluster::World& world) {
  const auto recipe = vlm::recipes::load(path, vlm::worker::objective_kinds(), overrides);
  const std::string run_dir = vlm::cluster::expand_job_id(recipe.run_dir, world);
  if (run_dir == recipe.run_dir) return recipe;
  overrides.push_back("run_dir=" + run_dir);
  return vlm::recipes::load(path, vlm::worker::objective_kinds(), overrides);
}

// Rank 0's monitor thread calls this while the training thread may be blocked in a collective
// that waits for the silent rank: the process ends here, and the launcher ends the other ranks.
[[noreturn]] void end_job_for_silent_rank(const vlm::monitor::RankHeartbeat& rank,
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
vlm::monitor::ProgressStyle progress_style(const std::string& choice) {
  if (choice == "line") return vlm::monitor::ProgressStyle::kLine;
  if (choice == "plain") return vlm::monitor::ProgressStyle::kPlain;
  return vlm::stdout_reaches_terminal() ? vlm::monitor::ProgressStyle::kLine
                                        : vlm::monitor::ProgressStyle::kPlain;
}

// --plan: the report on stdout; a plan over --device-memory ends with exit 2 naming the stage
// and its biggest consumer.
int print_plan(const vlm::recipes::Recipe& recipe, int world_size,
               const std::string& device_memory) {
  vlm::worker::PlanOptions options;
  options.world_size = world_size;
  if (!device_memory.empty()) {
    options.device_memory = static_cast<int64_t>(
        vlm::apps::parse_mib(device_memory, "--device-memory") * 1024.0 * 1024.0);
  }
  const vlm::worker::PlanOutcome outcome = vlm::worker::plan_run(recipe, options);
  std::cout << outcome.report << std::flush;
  if (outcome.fits) return vlm::apps::kExitOk;
  std::cerr << "vlm-worker: " << outcome.verdict << "\n";
  return vlm::apps::kExitUsage;
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
  app.add_option("--stop-after", train_options.stop_after_stage,
                 "stop once this stage is done (e.g. pretrain); the same command without it "
                 "continues with the next stage");
  bool check_only = false;
  app.add_flag("--check", check_only,
               "check every input the run reads (model folders and their weights' names and "
               "shapes, tokenizer, corpora, each stage's structure), write nothing, and exit");
  bool plan_only = false;
  app.add_flag("--plan", plan_only,
               "print the parameter counts, sharding units and memory per rank the recipe needs "
               "(from the model folders' config.json; allocates nothing large) and exit");
  int plan_world_size = 1;
  app.add_option("--world-size", plan_world_size, "--plan: the number of ranks to plan for")
      ->check(CLI::PositiveNumber);
  std::string device_memory;
  app.add_option("--device-memory", device_memory,
                 "--plan: memory per rank (80GiB, 24GiB, ...); exit 2 when a stage needs more");
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
  if (plan_only) return print_plan(recipe, plan_world_size, device_memory);
  vlm::log::info("vlm-worker: recipe {} on {} rank(s); {}", recipe_path, world.world_size,
                 vlm::worker::blas_description());
  const vlm::worker::Placement placement = vlm::worker::choose_placement(recipe, world);
  vlm::log::info("{}; {} ({})", vlm::cluster::describe(world, placement.device.str()),
                 vlm::cluster::name_of(placement.backend), placement.reason);
  vlm::log::info("resolved recipe:\n{}", recipe.resolved_yaml);
  const std::string checked = vlm::worker::check_run_inputs(recipe);
  if (check_only) {
    std::cout << checked << "\n";
    return vlm::apps::kExitOk;
  }
  vlm::log::info("{}", checked);
  const auto layout = vlm::checkpoint::prepare_run_directory(recipe, world.is_coordinator());
  vlm::monitor::MonitorSetup watching;
  watching.run_dir = layout.root;
  watching.metrics_jsonl = layout.metrics_jsonl();
  watching.tensorboard = layout.tensorboard();
  watching.progress_style = progress_style(progress);
  if (watching.progress_style == vlm::monitor::ProgressStyle::kLine) {
    watching.terminal_columns = vlm::terminal_columns();
  }
  const double heartbeat_timeout_s = recipe.cluster.heartbeat_timeout_s;
  watching.on_silent_rank = [=](const auto& rank) {
    end_job_for_silent_rank(rank, heartbeat_timeout_s);
  };
  vlm::monitor::RunMonitor monitor(recipe, world, std::move(watching));
  const auto comm = vlm::worker::open_run_communicator(placement, recipe, world);
  monitor.connect(*comm);
  const auto outcome =
      vlm::worker::train(recipe, layout, world, *comm, monitor.observer(), train_options);
  if (outcome.preempted) {
    vlm::log::info("preempted: state saved; run the same command again to resume (exit {})",
                   vlm::apps::kExitPreempted);
    return vlm::apps::kExitPreempted;
  }
  if (outcome.stopped_early) {
    vlm::log::info("stopped after stage '{}': its model is under {}/stages/",
                   train_options.stop_after_stage, layout.root);
    return vlm::apps::kExitOk;
  }
  vlm::log::info("final model: {}", layout.final_model());
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, worker_main); }
