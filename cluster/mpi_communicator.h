// Options of the MPI backend that callers normally leave alone (make_mpi_communicator() in
// communicator.h uses the defaults).
//
// Each MPI communicator works on its own duplicate of MPI_COMM_WORLD, so its traffic never pairs
// with another library's (parallel HDF5) or another communicator's. Several may exist at once;
// the first one made initializes MPI and must be the last destroyed, since it finalizes MPI.
//
// Its reduce_scatter reduces every element in rank order ((r0 + r1) + r2 ...), the same order at
// every world size, so results do not depend on timing.
#pragma once

#include <climits>
#include <cstddef>
#include <memory>

#include "cluster/communicator.h"

namespace vlm::cluster {

struct MpiOptions {
  // Largest element count one MPI call is given; larger collectives go in pieces. MPI's counts
  // are ints; tests lower the limit to exercise the pieces on small buffers.
  size_t max_elements_per_call = INT_MAX;
};

std::unique_ptr<Communicator> make_mpi_communicator(const MpiOptions& options);

}  // namespace vlm::cluster
