// Who this process is in the job: rank, world size, local rank, and the Slurm job it runs in.
// Read from the launcher's environment (Open MPI's mpirun, PMIx, or Slurm's srun).
#pragma once

#include <string>

namespace vlm::cluster {

struct World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string job_id;     // SLURM_JOB_ID, empty outside Slurm
  int restart_count = 0;  // SLURM_RESTART_COUNT: how often the job was requeued
  std::string hostname;

  bool is_coordinator() const { return rank == 0; }
};

// Reads OMPI_COMM_WORLD_*, PMIX_RANK, SLURM_PROCID/NTASKS/LOCALID/JOB_ID; a process started
// alone is rank 0 of 1. Throws ConfigError when the variables contradict each other.
World detect_world();

// `text` with each "{job_id}" replaced by the Slurm job id ("local" outside Slurm): a run
// directory named so is the same for every attempt of a requeued job and new for a new job.
std::string expand_job_id(const std::string& text, const World& world);

// "rank 1 of 4 on node7 (local rank 1 of 2, device cpu), Slurm job 1234 attempt 2"; device is
// what the rank computes on (worker/placement.h chooses it).
std::string describe(const World& world, const std::string& device);

}  // namespace vlm::cluster
