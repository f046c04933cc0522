// What cluster/nccl.h offers in a build without CUDA: a recipe that asks for NCCL gets a message
// naming the build option instead of a link error.
#ifndef VLM_HAVE_NCCL

#include "cluster/nccl.h"
#include "common/error.h"

namespace vlm::cluster {

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>, int) {
  VLM_THROW(ConfigError,
            "cluster.backend is nccl, but this build has no NCCL backend (VLM_WITH_CUDA=OFF)");
}

std::string nccl_version() { return {}; }

}  // namespace vlm::cluster

#endif  // VLM_HAVE_NCCL
