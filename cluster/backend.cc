#include "cluster/backend.h"

#include "cluster/nccl.h"
#include "common/error.h"

namespace vlm::cluster {

const std::vector<std::pair<std::string, Backend>>& backend_words() {
  static const std::vector<std::pair<std::string, Backend>> words = {
      {"auto", Backend::kAuto}, {"mpi", Backend::kMpi}, {"nccl", Backend::kNccl}};
  return words;
}

const std::string& name_of(Backend backend) {
  for (const auto& [word, value] : backend_words()) {
    if (value == backend) return word;
  }
  VLM_THROW(InternalError, "a cluster backend without a YAML word");
}

Backend resolve_backend(Backend requested, bool device_is_gpu, const std::string& device,
                        std::string& reason) {
  const bool nccl_built = !nccl_version().empty();
  if (requested == Backend::kAuto) {
    const Backend backend = device_is_gpu && nccl_built ? Backend::kNccl : Backend::kMpi;
    reason += "; cluster.backend auto: " + name_of(backend);
    VLM_CHECK(!device_is_gpu || nccl_built, ConfigError, "training.device is ", device,
              " but this build has no NCCL backend to "
              "reduce device buffers: configure with -DVLM_WITH_CUDA=ON (CUDA toolkit and NCCL "
              "found under /usr/local/cuda), or set training.device: cpu");
    return backend;
  }
  reason += "; cluster.backend " + name_of(requested);
  VLM_CHECK(requested != Backend::kNccl || device_is_gpu, ConfigError,
            "cluster.backend is nccl, which reduces GPU buffers, but training.device resolves to ",
            device, ": set cluster.backend: mpi (or auto) for a CPU run");
  VLM_CHECK(requested != Backend::kMpi || !device_is_gpu, ConfigError,
            "cluster.backend is mpi, which reduces host buffers, but training.device resolves "
            "to ",
            device, ": set cluster.backend: nccl (or auto) for a GPU run");
  return requested;
}

}  // namespace vlm::cluster
