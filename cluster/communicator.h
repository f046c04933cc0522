// The collectives vlmtrain's jobs use, behind one abstract interface: an MPI backend when the
// process was started by an MPI launcher, a single-process backend otherwise. MPI's headers stay
// in cluster/*.cc, so code that talks to other ranks never sees them.
//
// Two kinds of calls: blocking ones on small host values (agree, exchange descriptions, sum
// counters), and asynchronous collectives on flat buffers for the sharded engine, which return a
// handle to wait on. Every wait has the communicator's timeout: a rank that waits past it throws
// CommError naming the collective and its purpose, instead of hanging forever.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/backend.h"

namespace vlm::cluster {

enum class ReduceOp { kSum, kMax };

// Element types of flat buffers. Reductions take kFloat32, kFloat64 and kInt64 (the engine reduces
// in fp32 even when it computes in bf16; see widens_bf16()); all-gather and broadcast move any
// type as bytes.
enum class DType { kFloat32, kBFloat16, kFloat64, kInt64 };
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// count elements of dtype at data: host memory for the MPI backend, device memory for NCCL's.
struct FlatBuffer {
  void* data = nullptr;
  size_t count = 0;
  DType dtype = DType::kFloat32;
};

// A collective in flight. The buffers it was given must stay alive and untouched until wait()
// returns. Collectives complete in the order they were started on a communicator. Destroying a
// handle before completion waits for it (at most the timeout, without throwing); after a timeout
// or failure it detaches instead. Past a timeout or failure a communicator refuses new
// collectives with CommError: the ranks may no longer agree on which collective comes next.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Blocks until this collective has completed. Throws CommError when the backend reports a
  // failure, or when the communicator's timeout passes first ("all_gather of unit llm.layers.3
  // at step 12 timed out after 30 s on rank 1 of 2"). Calling it again after success is a no-op;
  // after a timeout it waits again (a late peer may still complete the collective).
  virtual void wait() = 0;
  // True once complete (never blocks, never throws; wait() reports failures).
  virtual bool done() = 0;
};
using Pending = std::unique_ptr<PendingCollective>;

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

  // ---- Asynchronous collectives on flat buffers. `what` says what the call is for and goes into
  // every error about it ("unit llm.layers.3 at step 12"). All ranks must start the same
  // collectives in the same order with the same counts and types. Each is counted in traffic().

  // recv (count = size() * send.count) receives every rank's send buffer, in rank order. send
  // may be recv's own block (elements from rank() * send.count on): nothing is copied then.
  Pending all_gather(FlatBuffer send, FlatBuffer recv, const std::string& what);
  // send (count = size() * recv.count) is reduced element-wise across ranks; rank r receives
  // elements [r * recv.count, (r + 1) * recv.count) of the result. Where widens_bf16(), send
  // may be bf16 with recv fp32 and kSum: bf16 travels, the sum is taken in fp32.
  Pending reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp op, const std::string& what);
  // Whether reduce_scatter sums a bf16 send into an fp32 recv itself, with the same result as
  // widening the send first (half the bytes on the wire, no widened copy). NCCL's does not.
  virtual bool widens_bf16() const { return false; }
  // In place: every rank ends with the element-wise reduction.
  Pending all_reduce(FlatBuffer buffer, ReduceOp op, const std::string& what);
  // In place: every rank ends with root's buffer.
  Pending broadcast(FlatBuffer buffer, int root, const std::string& what);
  // Returns when every rank has called it or the timeout passed (CommError naming `what`).
  virtual void barrier(const std::string& what) = 0;

  // Seconds a wait may take before it throws CommError; <= 0: wait forever. Default 300.
  virtual void set_timeout(double seconds) = 0;
  virtual double timeout() const = 0;

  // What this rank has sent in the flat-buffer collectives since it was made, counted as a
  // bandwidth-optimal (ring) algorithm sends them: an all-gather or reduce-scatter (N-1)/N of the
  // whole buffer, an all-reduce twice that, a broadcast (N-1)/N of the buffer. That is the volume
  // ZeRO's analysis counts (2 x parameters x (N-1)/N per step at stages 1-2, about 3x at stage 3),
  // so the engine's traffic can be checked against it; a backend's own algorithm may send more.
  struct Traffic {
    int64_t bytes = 0;
    int64_t collectives = 0;
  };
  Traffic traffic() const { return {sent_bytes_.load(), collectives_.load()}; }

  // Conveniences over the calls above.
  bool is_root() const { return rank() == 0; }
  int64_t all_reduce(int64_t value, ReduceOp op);
  double all_reduce(double value, ReduceOp op);
  std::vector<std::vector<int64_t>> gather(const std::vector<int64_t>& values, int root);
  std::vector<std::vector<int64_t>> all_gather(const std::vector<int64_t>& values);

 protected:
  // The backends' flat-buffer collectives, behind the counting calls above.
  virtual Pending start_all_gather(FlatBuffer send, FlatBuffer recv, const std::string& what) = 0;
  virtual Pending start_reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp op,
                                       const std::string& what) = 0;
  virtual Pending start_all_reduce(FlatBuffer buffer, ReduceOp op, const std::string& what) = 0;
  virtual Pending start_broadcast(FlatBuffer buffer, int root, const std::string& what) = 0;

 private:
  // (N-1)/N of `bytes`, `passes` times.
  void count_sent(size_t bytes, int passes);

  std::atomic<int64_t> sent_bytes_{0};
  std::atomic<int64_t> collectives_{0};
};

// The single-process backend: rank 0 of 1, every collective returns its input.
std::unique_ptr<Communicator> make_local_communicator();

// The MPI backend over (a duplicate of) MPI_COMM_WORLD. Initializes MPI (MPI_Init_thread,
// MPI_THREAD_MULTIPLE required) unless it is already initialized, and finalizes it when destroyed
// if it initialized it, unless an exception is unwinding or a collective is still in flight (a
// peer may be gone; MPI_Finalize could hang). MPI cannot be initialized twice in one process: the
// first one made must be the last destroyed (see mpi_communicator.h). Throws IoError when MPI
// fails to start.
std::unique_ptr<Communicator> make_mpi_communicator();

// True when an MPI launcher (mpirun, srun --mpi=pmix) started this process.
bool launched_by_mpi();

// The MPI backend when launched_by_mpi(), the single-process one otherwise.
std::unique_ptr<Communicator> open_communicator();
// Backend::kMpi: open_communicator(); kNccl: the NCCL backend (cluster/nccl.h) on CUDA device
// local_device, bootstrapped over open_communicator(). kAuto is resolved before this (the
// worker's placement): InternalError.
std::unique_ptr<Communicator> open_communicator(Backend backend, int local_device);

}  // namespace vlm::cluster
