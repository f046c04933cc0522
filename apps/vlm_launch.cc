// vlm-launch slurm|local --recipe R ...: starts vlm-worker the right way for where it runs.
//   slurm: writes an sbatch script (and with --submit submits it) whose job checkpoints on USR1,
//          requeues itself and resumes; the run directory is named after the job id.
//   local: runs mpirun here with the flags this machine needs.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "apps/main_support.h"
#include "checkpoint/run_layout.h"
#include "cluster/launch.h"
#include "cluster/world.h"
#include "common/error.h"
#include "common/files.h"
#include "recipes/load.h"
#include "worker/objective_kinds.h"
#include "worker/run_timing.h"

namespace {

namespace fs = std::filesystem;
using vlm::ConfigError;
using vlm::IoError;

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal(); }

// vlm-worker sits beside vlm-launch.
std::string worker_path() {
  const fs::path self = fs::read_symlink("/proc/self/exe");
  return (self.parent_path() / "vlm-worker").string();
}

struct Common {
  std::string recipe;
  std::vector<std::string> overrides;
};

void add_common(CLI::App& command, Common& common) {
  command.add_option("--recipe", common.recipe, "recipe YAML file")->required();
  command.add_option("--set", common.overrides, "override a recipe key (repeatable)");
}

vlm::cluster::WorkerCommand worker_command(const Common& common) {
  VLM_CHECK(vlm::files::exists(common.recipe), ConfigError, "--recipe ", common.recipe,
            ": no such file");
  return {worker_path(), absolute(common.recipe), common.overrides};
}

struct SlurmOptions {
  vlm::cluster::SlurmJob job;
  std::string run_dir;  // empty: the recipe's, with "-{job_id}" appended
  std::string script;   // empty: beside the run directories
  std::string grace_from;
  bool submit = false;
};

// Warning before the kill: --grace, else what an earlier run of the recipe measured.
int chosen_grace(const SlurmOptions& options, const vlm::recipes::Recipe& recipe) {
  if (options.job.grace_s > 0) return options.job.grace_s;
  const vlm::checkpoint::RunLayout earlier = vlm::checkpoint::run_layout(
      recipe, options.grace_from.empty() ? recipe.run_dir : options.grace_from);
  const auto timing = vlm::worker::measure_run_timing(earlier);
  const int grace = vlm::cluster::grace_seconds(timing.step_s, timing.save_s);
  if (timing.saves == 0) {
    std::cerr << "vlm-launch: no measured checkpoint save under " << earlier.root
              << " (run the recipe once, or pass --grace-from RUN_DIR or --grace S); grace "
              << grace << " s\n";
  } else {
    std::cerr << "vlm-launch: " << earlier.root << " measured a step at " << timing.step_s
              << " s and a save at " << timing.save_s << " s (slowest of " << timing.saves
              << "); grace " << grace << " s\n";
  }
  return grace;
}

// "Submitted batch job 123" -> "123".
std::string submit(const std::string& script) {
  const std::string command = "sbatch --parsable " + vlm::cluster::shell_quote(script);
  FILE* pipe = ::popen(command.c_str(), "r");
  VLM_CHECK(pipe != nullptr, IoError, "cannot run ", command);
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  const int status = ::pclose(pipe);
  VLM_CHECK(status == 0, IoError, command, " failed (status ", status, "): ", out);
  const std::string id = out.substr(0, out.find_first_of(";\n"));
  VLM_CHECK(!id.empty(), IoError, command, " printed no job id");
  return id;
}

int run_slurm(SlurmOptions& options, const Common& common) {
  const auto recipe =
      vlm::recipes::load(common.recipe, vlm::worker::objective_kinds(), common.overrides);
  auto& job = options.job;
  job.command = worker_command(common);
  const std::string run_dir =
      absolute(options.run_dir.empty() ? recipe.run_dir + "-{job_id}" : options.run_dir);
  job.command.overrides.push_back("run_dir=" + run_dir);
  if (job.job_name.empty()) job.job_name = "vlm-" + fs::path(common.recipe).stem().string();
  if (job.working_dir.empty()) job.working_dir = absolute(".");
  job.grace_s = chosen_grace(options, recipe);
  // Slurm opens the log before the job starts: it goes where the run directories go.
  const fs::path logs = fs::path(run_dir).parent_path();
  vlm::files::make_directories(logs.string());
  if (job.output.empty()) job.output = (logs / (job.job_name + "-%j.out")).string();
  const std::string script =
      options.script.empty() ? (logs / (job.job_name + ".sbatch")).string() : options.script;
  vlm::files::write_atomically(script, vlm::cluster::sbatch_script(job));
  std::cout << "sbatch script: " << script << "\n";
  if (!options.submit) {
    std::cout << "submit it with: sbatch " << script << "\n";
    return vlm::apps::kExitOk;
  }
  vlm::cluster::World submitted;
  submitted.job_id = submit(script);
  const std::string& id = submitted.job_id;
  std::cout << "submitted job " << id
            << "\nrun directory: " << vlm::cluster::expand_job_id(run_dir, submitted)
            << "\nlog: " << (logs / (job.job_name + "-" + id + ".out")).string() << "\n";
  return vlm::apps::kExitOk;
}

int run_local(vlm::cluster::LocalJob& job, const Common& common, bool dry_run) {
  vlm::recipes::load(common.recipe, vlm::worker::objective_kinds(),
                     common.overrides);  // a bad recipe fails here, not in N ranks
  job.command = worker_command(common);
  job.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  job.as_root = ::geteuid() == 0;
  const auto words = vlm::cluster::mpirun_command(job);
  std::string printed;
  for (const auto& word : words)
    printed += (printed.empty() ? "" : " ") + vlm::cluster::shell_quote(word);
  std::cerr << "vlm-launch: " << printed << "\n";
  if (dry_run) return vlm::apps::kExitOk;
  std::vector<char*> argv;
  for (const auto& word : words) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  VLM_THROW(IoError, "cannot run ", job.mpirun, ": ", std::strerror(errno),
            " (is openmpi-bin installed?)");
}

int launch_main(int argc, char** argv) {
  CLI::App app{"vlm-launch: run vlm-worker under Slurm or mpirun"};
  app.require_subcommand(1);

  Common slurm_common;
  SlurmOptions slurm;
  slurm.job.grace_s = 0;
  CLI::App* slurm_cmd = app.add_subcommand("slurm", "write (and submit) a requeueing sbatch job");
  add_common(*slurm_cmd, slurm_common);
  slurm_cmd->add_option("--nodes", slurm.job.nodes, "nodes")->capture_default_str();
  slurm_cmd->add_option("--ranks-per-node", slurm.job.ranks_per_node, "ranks (tasks) per node")
      ->capture_default_str();
  slurm_cmd->add_option("--cpus-per-rank", slurm.job.cpus_per_rank, "CPUs per rank (0: default)");
  slurm_cmd->add_option("--partition", slurm.job.partition, "Slurm partition");
  slurm_cmd->add_option("--time", slurm.job.time_limit, "time limit (Slurm format, 1-00:00:00)");
  slurm_cmd->add_option("--grace", slurm.job.grace_s,
                        "seconds of USR1 warning before the end (default: from a measured run)");
  slurm_cmd->add_option("--grace-from", slurm.grace_from,
                        "run directory whose step and checkpoint times size the grace "
                        "(default: the recipe's run_dir)");
  slurm_cmd->add_option("--launcher", slurm.job.launcher, "srun (--mpi=pmix) or mpirun")
      ->capture_default_str();
  slurm_cmd->add_option("--job-name", slurm.job.job_name, "default: vlm-<recipe name>");
  slurm_cmd->add_option("--run-dir", slurm.run_dir,
                        "run directory; {job_id} is the Slurm job id (default: the recipe's "
                        "run_dir + -{job_id})");
  slurm_cmd->add_option("--script", slurm.script, "where to write the sbatch script");
  slurm_cmd->add_option("--setup", slurm.job.setup, "a shell line run before the launch");
  slurm_cmd->add_flag("--submit", slurm.submit, "submit with sbatch");

  Common local_common;
  vlm::cluster::LocalJob local;
  bool dry_run = false;
  CLI::App* local_cmd = app.add_subcommand("local", "run mpirun on this machine");
  add_common(*local_cmd, local_common);
  local_cmd->add_option("-n,--ranks", local.ranks, "ranks")->capture_default_str();
  local_cmd->add_flag("--dry-run", dry_run, "print the command instead of running it");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (slurm_cmd->parsed()) return run_slurm(slurm, slurm_common);
  return run_local(local, local_common, dry_run);
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, launch_main); }
