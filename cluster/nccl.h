// The NCCL backend of Communicator, for ranks that each drive one CUDA device. Its own header so
// that communicator.h stays the same in builds with and without CUDA; CUDA's and NCCL's headers
// stay in cluster/nccl_communicator.cc.
//
// Flat-buffer collectives take device pointers and run on the communicator's own CUDA stream; a
// collective's handle completes when the stream has passed it, and a wait past the timeout aborts
// the NCCL communicator (later calls throw CommError) before it throws. The blocking calls on
// host values go to the bootstrap communicator, which also carries NCCL's unique id from rank 0.
#pragma once

#include <memory>
#include <string>

#include "cluster/communicator.h"

namespace vlm::cluster {

// An NCCL communicator over the ranks of `bootstrap` (usually make_mpi_communicator()), on CUDA
// device local_device of this process. Collective: every rank of bootstrap must call it.
// Throws CommError when no CUDA device is visible or CUDA/NCCL fail to start, and ConfigError in
// a build without the backend (VLM_WITH_CUDA=OFF).
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> bootstrap,
                                                     int local_device);

// The version of the NCCL library this process runs ("2.28.9"); empty in a build without NCCL.
std::string nccl_version();

}  // namespace vlm::cluster
