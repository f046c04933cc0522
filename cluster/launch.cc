#include "cluster/launch.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"

namespace vlm::cluster {
namespace {

std::string joined_command(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty()) out += ' ';
    out += shell_quote(word);
  }
  return out;
}

std::vector<std::string> worker_words(const WorkerCommand& command) {
  std::vector<std::string> words = {command.worker, "--recipe", command.recipe};
  for (const auto& override_text : command.overrides) {
    words.push_back("--set");
    words.push_back(override_text);
  }
  return words;
}

void check_job(const SlurmJob& job) {
  VLM_CHECK(job.nodes >= 1, ConfigError, "--nodes must be at least 1, got ", job.nodes);
  VLM_CHECK(job.ranks_per_node >= 1, ConfigError, "--ranks-per-node must be at least 1, got ",
            job.ranks_per_node);
  VLM_CHECK(job.grace_s >= 1, ConfigError, "--grace must be at least 1 s, got ", job.grace_s);
  VLM_CHECK(job.launcher == "srun" || job.launcher == "mpirun", ConfigError,
            "--launcher must be srun or mpirun, got '", job.launcher, "'");
  VLM_CHECK(!job.command.worker.empty() && !job.command.recipe.empty(), ConfigError,
            "the job needs vlm-worker's path and a recipe");
}

void directive(std::ostringstream& out, const std::string& text) {
  out << "#SBATCH " << text << '\n';
}

}  // namespace

std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string("/._-=+:,@%").find(c) != std::string::npos;
  });
  if (plain) return word;
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string sbatch_script(const SlurmJob& job) {
  check_job(job);
  std::ostringstream out;
  out << "#!/bin/bash\n";
  directive(out, "--job-name=" + shell_quote(job.job_name));
  directive(out, "--nodes=" + std::to_string(job.nodes));
  directive(out, "--ntasks-per-node=" + std::to_string(job.ranks_per_node));
  if (job.cpus_per_rank > 0) directive(out, "--cpus-per-task=" + std::to_string(job.cpus_per_rank));
  if (!job.partition.empty()) directive(out, "--partition=" + job.partition);
  if (!job.time_limit.empty()) directive(out, "--time=" + job.time_limit);
  // USR1 to every task (not B: the batch shell) grace_s before the end: vlm-worker saves at the
  // next step boundary and exits kPreemptedExitCode.
  directive(out, "--signal=USR1@" + std::to_string(job.grace_s));
  directive(out, "--requeue");
  // A requeued job appends to the same log instead of replacing the first attempt's.
  directive(out, "--open-mode=append");
  if (!job.output.empty()) directive(out, "--output=" + job.output);
  if (!job.working_dir.empty()) directive(out, "--chdir=" + job.working_dir);
  out << "# Written by vlm-launch. A run preempted by a signal (scancel --signal=USR1, the time\n"
         "# limit) saves and exits "
      << kPreemptedExitCode << "; one that lost a rank exits " << kRankSilentExitCode
      << ". This script then requeues the job,\n"
         "# which resumes from its run directory (named after SLURM_JOB_ID, unchanged by a "
         "requeue).\n";
  out << "set -u\n";
  for (const auto& line : job.setup) out << line << '\n';
  out << "echo \"vlm-launch: job $SLURM_JOB_ID attempt $((${SLURM_RESTART_COUNT:-0} + 1)) on "
         "$SLURM_JOB_NODELIST\"\n";
  const std::string worker = joined_command(worker_words(job.command));
  if (job.launcher == "srun") {
    out << "srun --mpi=pmix --kill-on-bad-exit=1 " << worker << '\n';
  } else {
    out << "mpirun --bind-to none " << worker << '\n';
  }
  out << "status=$?\n"
         "case $status in\n"
      << "  " << kPreemptedExitCode
      << ") echo \"vlm-launch: preempted and saved; requeueing job $SLURM_JOB_ID\" ;;\n"
      << "  " << kRankSilentExitCode
      << ") echo \"vlm-launch: a rank went silent; requeueing job $SLURM_JOB_ID to resume from its "
         "last checkpoint\" ;;\n"
         "  *) exit \"$status\" ;;\n"
         "esac\n"
         "scontrol requeue \"$SLURM_JOB_ID\"\n"
         "exit \"$status\"\n";
  return out.str();
}

std::vector<std::string> mpirun_command(const LocalJob& job) {
  VLM_CHECK(job.ranks >= 1, ConfigError, "-n must be at least 1, got ", job.ranks);
  std::vector<std::string> words = {job.mpirun, "-np", std::to_string(job.ranks)};
  if (job.ranks > job.cores) words.push_back("--oversubscribe");
  if (job.as_root) words.push_back("--allow-run-as-root");
  // Each rank sets its own thread count (worker/threads.h); Open MPI's core binding would pin
  // every rank's threads to one core.
  words.insert(words.end(), {"--bind-to", "none"});
  const auto worker = worker_words(job.command);
  words.insert(words.end(), worker.begin(), worker.end());
  return words;
}

int grace_seconds(double step_s, double save_s) {
  const double needed = 2.0 * (std::max(0.0, step_s) + std::max(0.0, save_s));
  return std::max(60, static_cast<int>(std::ceil(needed)));
}

}  // namespace vlm::cluster
