// Starting vlm-worker: the sbatch script for a Slurm job that requeues itself after a
// preemption, and the mpirun command line for a run on this machine. Plain text out; vlm-launch
// writes, submits or runs it.
#pragma once

#include <string>
#include <vector>

namespace vlm::cluster {

// Exit status with which vlm-worker says "saved after a preemption signal: requeue me".
constexpr int kPreemptedExitCode = 75;
// Exit status of a job whose rank 0 heard no heartbeat from a rank: nothing saved since the last
// checkpoint, but a new attempt resumes from it.
constexpr int kRankSilentExitCode = 76;

struct WorkerCommand {
  std::string worker;                  // vlm-worker, an absolute path
  std::string recipe;                  // an absolute path
  std::vector<std::string> overrides;  // key=value, each passed as --set
};

struct SlurmJob {
  WorkerCommand command;
  std::string job_name;
  int nodes = 1;
  int ranks_per_node = 1;
  int cpus_per_rank = 0;   // 0: Slurm's default
  std::string partition;   // empty: the cluster's default
  std::string time_limit;  // empty: the partition's default; else Slurm's format (1-00:00:00)
  int grace_s = 120;       // USR1 this long before the time limit: time to checkpoint
  std::string launcher = "srun";   // srun (--mpi=pmix) or mpirun (inside the allocation)
  std::string output;              // the job's log file (Slurm patterns allowed, %j = job id)
  std::string working_dir;         // where the job starts (relative recipe paths resolve here)
  std::vector<std::string> setup;  // shell lines run before the launch (modules, env)
};

// The whole sbatch script. It asks for USR1 grace_s seconds before the limit (to every task),
// and requeues the job itself when vlm-worker exits with kPreemptedExitCode or
// kRankSilentExitCode, so a job preempted by a signal or its time limit, or one that lost a rank,
// comes back and resumes from its run directory.
std::string sbatch_script(const SlurmJob& job);

struct LocalJob {
  WorkerCommand command;
  int ranks = 1;
  int cores = 1;         // this machine's; more ranks than cores needs --oversubscribe
  bool as_root = false;  // Open MPI refuses root without --allow-run-as-root
  std::string mpirun = "mpirun";
};

std::vector<std::string> mpirun_command(const LocalJob& job);

// Seconds of warning a job needs before it is killed: a step to reach the next boundary plus a
// synchronous save, doubled for safety, and never under a minute.
int grace_seconds(double step_s, double save_s);

// Quotes a word for a POSIX shell ('...' with embedded quotes escaped).
std::string shell_quote(const std::string& word);

}  // namespace vlm::cluster
