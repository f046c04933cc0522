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
  std::string job_id;  // SLURM_JOB_ID, empty outside Slurm
  std::string hostname;

  bool is_coordinator() const { return rank == 0; }
};

// Reads OMPI_COMM_WORLD_*, PMIX_RANK, SLURM_PROCID/NTASKS/LOCALID/JOB_ID; a process started
// alone is rank 0 of 1. Throws ConfigError when the variables contradict each other.
World detect_world();

}  // namespace vlm::cluster
