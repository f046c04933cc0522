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
  world.restart_count = first_int({"SLURM_RESTART_COUNT"}, 0);
  world.hostname = host_name();
  VLM_CHECK(world.world_size >= 1 && world.rank < world.world_size, ConfigError, "rank ",
            world.rank, " is outside the world of ", world.world_size,
            " (check OMPI_COMM_WORLD_* / SLURM_* variables)");
  return world;
}

std::string expand_job_id(const std::string& text, const World& world) {
  static const std::string placeholder = "{job_id}";
  const std::string id = world.job_id.empty() ? "local" : world.job_id;
  std::string out = text;
  for (size_t at = out.find(placeholder); at != std::string::npos;
       at = out.find(placeholder, at + id.size())) {
    out.replace(at, placeholder.size(), id);
  }
  return out;
}

std::string describe(const World& world, const std::string& device) {
  std::string text = "rank " + std::to_string(world.rank) + " of " +
                     std::to_string(world.world_size) + " on " + world.hostname + " (local rank " +
                     std::to_string(world.local_rank) + " of " + std::to_string(world.local_size) +
                     ", device " + device + ")";
  if (!world.job_id.empty()) {
    text += ", Slurm job " + world.job_id + " attempt " + std::to_string(world.restart_count + 1);
  }
  return text;
}

}  // namespace vlm::cluster
