#include "cluster/world.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.h"

namespace vlm::cluster {
namespace {

// Returns the first of the variables that is set, parsed as an integer; fallback otherwise.
int first_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long parsed = std::strtol(value, &end, 10);
    VLM_CHECK(end && *end == '\0' && parsed >= 0, ConfigError, "environment variable ", name,
              " must be a non-negative integer, got '", value, "'");
    return static_cast<int>(parsed);
  }
  return fallback;
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown";
  return buffer;
}

}  // namespace

World detect_world() {
  World world;
  world.rank = first_int({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"}, 0);
  world.world_size = first_int({"OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"}, 1);
  world.local_rank = first_int({"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}, 0);
  world.local_size =
      first_int({"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"}, world.world_size);
  if (const char* job = std::getenv("SLURM_JOB_ID")) world.job_id = job;
  world.hostname = host_name();
  VLM_CHECK(world.world_size >= 1 && world.rank < world.world_size, ConfigError, "rank ",
            world.rank, " is outside the world of ", world.world_size,
            " (check OMPI_COMM_WORLD_* / SLURM_* variables)");
  return world;
}

}  // namespace vlm::cluster
