#include "worker/placement.h"

#include <torch/cuda.h>

#include <cstdlib>

#include "common/error.h"

namespace vlm::worker {
namespace {

// "cuda", "cuda:<n>": the CUDA device index; -1 for "cuda" (the local rank's).
bool parse_cuda(const std::string& text, int& index) {
  if (text == "cuda") {
    index = -1;
    return true;
  }
  if (text.rfind("cuda:", 0) != 0 || text.size() == 5 || text.size() > 9) return false;
  for (size_t i = 5; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  index = std::atoi(text.c_str() + 5);
  return true;
}

at::Device choose_device(const std::string& requested, const cluster::World& world,
                         std::string& reason) {
  const bool cuda = cuda_usable();
  const auto local_gpu = [&] {
    const auto count = static_cast<int>(torch::cuda::device_count());
    return at::Device(at::kCUDA, static_cast<at::DeviceIndex>(world.local_rank % count));
  };
  if (requested == "auto") {
    reason = cuda ? "training.device auto: a GPU per local rank"
                  : "training.device auto: no CUDA in this LibTorch or no GPU visible";
    return cuda ? local_gpu() : at::Device(at::kCPU);
  }
  if (requested == "cpu") {
    reason = "training.device cpu";
    return at::kCPU;
  }
  int index = -1;
  VLM_CHECK(parse_cuda(requested, index), ConfigError, "training.device must be auto, cpu, cuda ",
            "or cuda:<index>, got '", requested, "'");
  VLM_CHECK(cuda, ConfigError, "training.device is ", requested,
            ", but the LibTorch this program runs on has no CUDA or sees no GPU (Debian's "
            "libtorch is CPU-only: build with -DTorch_DIR=<a CUDA LibTorch>/share/cmake/Torch "
            "-DVLM_WITH_CUDA=ON), or set training.device: cpu");
  reason = "training.device " + requested;
  if (index < 0) return local_gpu();
  VLM_CHECK(index < static_cast<int>(torch::cuda::device_count()), ConfigError,
            "training.device is ", requested, " but this process sees ",
            torch::cuda::device_count(), " GPU(s)");
  return at::Device(at::kCUDA, static_cast<at::DeviceIndex>(index));
}

}  // namespace

bool cuda_usable() { return torch::cuda::is_available() && torch::cuda::device_count() > 0; }

Placement choose_placement(const recipes::Recipe& recipe, const cluster::World& world) {
  Placement placement;
  placement.device = choose_device(recipe.stages.front().training.device, world, placement.reason);
  placement.backend = cluster::resolve_backend(recipe.cluster.backend, placement.device.is_cuda(),
                                               placement.device.str(), placement.reason);
  return placement;
}

std::unique_ptr<cluster::Communicator> open_run_communicator(const Placement& placement,
                                                             const recipes::Recipe& recipe,
                                                             const cluster::World& world) {
  std::unique_ptr<cluster::Communicator> comm =
      cluster::open_communicator(placement.backend, placement.device.index());
  comm->set_timeout(recipe.cluster.timeout_s);
  VLM_CHECK(comm->size() == world.world_size, InternalError, "the launcher says ", world.world_size,
            " ranks but MPI has ", comm->size());
  return comm;
}

}  // namespace vlm::worker
