// Where a run computes and how its ranks talk: training.device and cluster.backend resolved
// against the LibTorch this build uses, the GPUs this process sees and the communicator backends
// this build has.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "cluster/world.h"
#include "recipes/recipe.h"

namespace vlm::worker {

struct Placement {
  at::Device device = at::kCPU;
  cluster::Backend backend = cluster::Backend::kMpi;  // kMpi or kNccl, never kAuto
  std::string reason;                                 // why, for the log
};

// training.device: auto (cuda:<local rank> when the LibTorch in use has CUDA and sees a GPU, else
// cpu), cpu, cuda (cuda:<local rank>) or cuda:<index>. cluster.backend: auto (nccl on a GPU when
// this build has the NCCL backend, mpi otherwise), mpi (host buffers: CPU only) or nccl (device
// buffers: GPU only). A choice this build or machine cannot honour, or a device and backend that
// do not go together, is a ConfigError naming the keys and what to change.
Placement choose_placement(const recipes::Recipe& recipe, const cluster::World& world);

// The run's communicator on the placement's backend and device, with cluster.timeout_s.
// Collective: every rank opens it at the same point, before training. InternalError when MPI's
// world is not the one the launcher described.
std::unique_ptr<cluster::Communicator> open_run_communicator(const Placement& placement,
                                                             const recipes::Recipe& recipe,
                                                             const cluster::World& world);

// Whether this process can compute on a GPU: a CUDA LibTorch that sees at least one device.
bool cuda_usable();

}  // namespace vlm::worker
