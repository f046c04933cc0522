// The collectives vlmtrain's jobs use, behind one abstract interface: an MPI backend when the
// process was started by an MPI launcher, a single-process backend otherwise. MPI's headers stay
// in cluster/*.cc, so code that talks to other ranks never sees them.
//
// The interface is meant to grow (issue 4 adds asynchronous flat-buffer collectives with handles
// and timeouts); the blocking calls here are the ones a coordinator-style job needs: agree,
// exchange small descriptions, sum counters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::cluster {

enum class ReduceOp { kSum, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi" or "local": for logs and tests.
  virtual std::string backend() const = 0;

  // Returns when every rank has called it. Waiting ranks sleep rather than spin, so a rank
  // that waits long (e.g. for rank 0's planning) does not take a core from one that works.
  virtual void barrier() = 0;
  // After the call every rank holds root's bytes.
  virtual void broadcast(std::string& bytes, int root) = 0;
  // On root: every rank's bytes, in rank order. Elsewhere: an empty vector.
  virtual std::vector<std::string> gather(std::string_view bytes, int root) = 0;
  // On every rank: every rank's bytes, in rank order.
  virtual std::vector<std::string> all_gather(std::string_view bytes) = 0;
  // Element-wise reduction across ranks, in place; every rank must pass the same length.
  virtual void all_reduce(std::vector<int64_t>& values, ReduceOp op) = 0;
  virtual void all_reduce(std::vector<double>& values, ReduceOp op) = 0;

  // Conveniences over the calls above.
  bool is_root() const { return rank() == 0; }
  int64_t all_reduce(int64_t value, ReduceOp op);
  double all_reduce(double value, ReduceOp op);
  std::vector<std::vector<int64_t>> gather(const std::vector<int64_t>& values, int root);
  std::vector<std::vector<int64_t>> all_gather(const std::vector<int64_t>& values);
};

// The single-process backend: rank 0 of 1, every collective returns its input.
std::unique_ptr<Communicator> make_local_communicator();

// The MPI backend over MPI_COMM_WORLD. Initializes MPI (MPI_Init_thread, MPI_THREAD_MULTIPLE
// requested) unless it is already initialized, and finalizes it when destroyed if it initialized
// it. MPI cannot be initialized twice in one process: make at most one. Throws IoError when MPI
// fails to start.
std::unique_ptr<Communicator> make_mpi_communicator();

// True when an MPI launcher (mpirun, srun --mpi=pmix) started this process.
bool launched_by_mpi();

// The MPI backend when launched_by_mpi(), the single-process one otherwise.
std::unique_ptr<Communicator> open_communicator();

}  // namespace vlm::cluster
