// The communicator backends a recipe names (cluster.backend), and which one a run gets. Their YAML
// words live here, beside the backends, so that adding one touches cluster/ alone: the recipe
// schema takes its words from backend_words().
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vlm::cluster {

// mpi reduces host buffers, nccl device buffers.
enum class Backend {
  kAuto,  // "auto": nccl when training.device is a GPU (and this build has NCCL), mpi on the CPU
  kMpi,   // "mpi"
  kNccl,  // "nccl"
};

// Every backend with its YAML word, in the order messages list them.
const std::vector<std::pair<std::string, Backend>>& backend_words();
const std::string& name_of(Backend backend);  // its YAML word

// The backend a run on `device` (its name, e.g. "cpu" or "cuda:1") uses: auto resolved, a named
// one checked against the device (ConfigError naming cluster.backend or training.device when they
// cannot work together). Appends what was chosen, and why, to `reason`.
Backend resolve_backend(Backend requested, bool device_is_gpu, const std::string& device,
                        std::string& reason);

}  // namespace vlm::cluster
