// The NCCL backend of Communicator (cluster/nccl.h). Written against the CUDA runtime's and
// NCCL's C APIs, so it builds with the host compiler and needs no CUDA-enabled LibTorch.
//
// A collective is enqueued on the communicator's stream and followed by an event; its handle
// polls the event with short sleeps, because a blocking stream or event synchronize could neither
// time out nor notice a peer that died (ncclCommGetAsyncError does).
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster/nccl.h"
#include "common/error.h"

namespace vlm::cluster {
namespace {

#define VLM_CUDA_CHECK(call)                                                                      \
  do {                                                                                            \
    const cudaError_t vlm_cuda_rc = (call);                                                       \
    VLM_CHECK(vlm_cuda_rc == cudaSuccess, CommError, #call,                                       \
              " failed: ", cudaGetErrorName(vlm_cuda_rc), ": ", cudaGetErrorString(vlm_cuda_rc)); \
  } while (0)

std::string nccl_error_text(ncclResult_t result) {
  std::string text = ncclGetErrorString(result);
  // The last error is NCCL's own sentence about what went wrong (which peer, which call).
  const char* detail = ncclGetLastError(nullptr);
  if (detail != nullptr && *detail != '\0') text += std::string(" (") + detail + ")";
  return text;
}

#define VLM_NCCL_CHECK(call)                                \
  do {                                                      \
    const ncclResult_t vlm_nccl_rc = (call);                \
    VLM_CHECK(vlm_nccl_rc == ncclSuccess, CommError, #call, \
              " failed: ", nccl_error_text(vlm_nccl_rc));   \
  } while (0)

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return ncclFloat32;
    case DType::kBFloat16:
      return ncclBfloat16;
    case DType::kFloat64:
      return ncclFloat64;
    case DType::kInt64:
      return ncclInt64;
  }
  VLM_THROW(InternalError, "unknown DType ", static_cast<int>(dtype));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::kSum ? ncclSum : ncclMax; }

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds << " s";
  return out.str();
}

// The NCCL communicator and its stream, shared by the Communicator and every handle it returned,
// so a handle that outlives its communicator still has something to query and abort.
class NcclState {
 public:
  NcclState(int device, int rank, int size) : device_(device), rank_(rank), size_(size) {}
  NcclState(const NcclState&) = delete;
  NcclState& operator=(const NcclState&) = delete;

  ~NcclState() {
    cudaSetDevice(device_);
    if (comm_ != nullptr) {
      // Work still on the stream means its waiter gave up (an exception is on its way): a
      // destroy would wait for peers that may never come, an abort does not.
      if (stream_ != nullptr && cudaStreamQuery(stream_) == cudaSuccess) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
    }
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  void start(const ncclUniqueId& id) {
    select_device();
    // Non-blocking: our collectives must not wait behind work on the legacy default stream.
    VLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    // No timeout of its own: it returns once every rank has joined, and every rank has just
    // passed the bootstrap's broadcast of the id.
    VLM_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  }

  // CUDA's current device belongs to the calling thread, and a handle may be waited on from a
  // thread other than the one that built the communicator.
  void select_device() const { VLM_CUDA_CHECK(cudaSetDevice(device_)); }

  // The communicator for the next call; CommError once a timeout or failure aborted it.
  ncclComm_t live_comm(const std::string& call) {
    std::lock_guard<std::mutex> lock(mutex_);
    VLM_CHECK(comm_ != nullptr, CommError, call, ": the NCCL communicator was aborted earlier (",
              abort_reason_, ")");
    return comm_;
  }

  // Empty while healthy; otherwise why collectives can no longer complete.
  std::string async_error() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (comm_ == nullptr) return "the NCCL communicator was aborted (" + abort_reason_ + ")";
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
    if (rc != ncclSuccess) return "ncclCommGetAsyncError failed: " + nccl_error_text(rc);
    if (state != ncclSuccess && state != ncclInProgress) return nccl_error_text(state);
    return {};
  }

  // Ends this rank's collectives in flight: a peer that hangs or died would otherwise keep the
  // stream (and the next destroy) waiting forever. The peers notice through their own timeouts.
  void abort(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (comm_ == nullptr) return;
    ncclCommAbort(comm_);
    comm_ = nullptr;
    abort_reason_ = reason;
  }

  cudaStream_t stream() const { return stream_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  const int device_;
  const int rank_;
  const int size_;
  cudaStream_t stream_ = nullptr;
  std::mutex mutex_;
  ncclComm_t comm_ = nullptr;
  std::string abort_reason_;
};

class NcclCollective final : public PendingCollective {
 public:
  NcclCollective(std::shared_ptr<NcclState> state, std::string description, double timeout)
      : state_(std::move(state)), description_(std::move(description)), timeout_(timeout) {
    VLM_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    VLM_CUDA_CHECK(cudaEventRecord(event_, state_->stream()));
  }
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;
  ~NcclCollective() override { cudaEventDestroy(event_); }

  bool done() override { return completed_ || cudaEventQuery(event_) == cudaSuccess; }

  void wait() override {
    if (completed_) return;
    VLM_CHECK(failure_.empty(), CommError, failure_);
    const auto start = std::chrono::steady_clock::now();
    auto pause = std::chrono::microseconds(0);
    while (!poll()) {
      if (timeout_ > 0 && seconds_since(start) > timeout_) {
        fail("timed out after " + seconds_text(timeout_));
      }
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
    }
    completed_ = true;
  }

 private:
  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // True when the event has passed; throws when CUDA or NCCL report a failure.
  bool poll() {
    const cudaError_t rc = cudaEventQuery(event_);
    if (rc == cudaSuccess) return true;
    if (rc != cudaErrorNotReady) {
      fail(std::string("failed in CUDA: ") + cudaGetErrorName(rc) + ": " + cudaGetErrorString(rc));
    }
    const std::string error = state_->async_error();
    if (!error.empty()) fail("failed in NCCL: " + error);
    return false;
  }

  [[noreturn]] void fail(const std::string& why) {
    failure_ = description_ + " " + why + " on rank " + std::to_string(state_->rank()) + " of " +
               std::to_string(state_->size());
    state_->abort(failure_);
    VLM_THROW(CommError, failure_);
  }

  std::shared_ptr<NcclState> state_;
  const std::string description_;
  const double timeout_;
  cudaEvent_t event_ = nullptr;
  bool completed_ = false;
  std::string failure_;
};

void check_counts(const std::string& call, FlatBuffer small, FlatBuffer large, int size) {
  VLM_CHECK(small.dtype == large.dtype && large.count == small.count * static_cast<size_t>(size),
            InternalError, call, ": ", small.count, " ", dtype_name(small.dtype), " elements per ",
            "rank do not fit ", large.count, " ", dtype_name(large.dtype), " in a world of ", size);
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, int local_device)
      : bootstrap_(std::move(bootstrap)) {
    VLM_CHECK(bootstrap_ != nullptr, InternalError,
              "the NCCL backend needs a bootstrap communicator");
    timeout_ = bootstrap_->timeout();
    check_device(local_device);
    state_ = std::make_shared<NcclState>(local_device, bootstrap_->rank(), bootstrap_->size());
    state_->start(exchange_unique_id());
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend() const override { return "nccl"; }

  void barrier() override { bootstrap_->barrier(); }
  void broadcast(std::string& bytes, int root) override { bootstrap_->broadcast(bytes, root); }
  std::vector<std::string> gather(std::string_view bytes, int root) override {
    return bootstrap_->gather(bytes, root);
  }
  std::vector<std::string> all_gather(std::string_view bytes) override {
    return bootstrap_->all_gather(bytes);
  }
  void all_reduce(std::vector<int64_t>& values, ReduceOp op) override {
    bootstrap_->all_reduce(values, op);
  }
  void all_reduce(std::vector<double>& values, ReduceOp op) override {
    bootstrap_->all_reduce(values, op);
  }

  Pending start_all_gather(FlatBuffer send, FlatBuffer recv, const std::string& what) override {
    const std::string call = "all_gather of " + what;
    check_counts(call, send, recv, size());
    return enqueue(call, [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclAllGather(send.data, recv.data, send.count, nccl_type(send.dtype), comm, stream);
    });
  }

  Pending start_reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp op,
                               const std::string& what) override {
    const std::string call = "reduce_scatter of " + what;
    check_counts(call, recv, send, size());
    return enqueue(call, [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclReduceScatter(send.data, recv.data, recv.count, nccl_type(recv.dtype), nccl_op(op),
                               comm, stream);
    });
  }

  Pending start_all_reduce(FlatBuffer buffer, ReduceOp op, const std::string& what) override {
    return enqueue("all_reduce of " + what, [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclAllReduce(buffer.data, buffer.data, buffer.count, nccl_type(buffer.dtype),
                           nccl_op(op), comm, stream);
    });
  }

  Pending start_broadcast(FlatBuffer buffer, int root, const std::string& what) override {
    const std::string call = "broadcast of " + what;
    VLM_CHECK(root >= 0 && root < size(), InternalError, call, ": root rank ", root,
              " does not exist in a world of ", size());
    return enqueue(call, [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclBroadcast(buffer.data, buffer.data, buffer.count, nccl_type(buffer.dtype), root,
                           comm, stream);
    });
  }

  void barrier(const std::string& what) override { bootstrap_->barrier(what); }

  void set_timeout(double seconds) override {
    timeout_ = seconds;
    bootstrap_->set_timeout(seconds);
  }
  double timeout() const override { return timeout_; }

 private:
  static void check_device(int local_device) {
    int count = 0;
    const cudaError_t rc = cudaGetDeviceCount(&count);
    VLM_CHECK(rc == cudaSuccess && count > 0, CommError,
              "cluster.backend is nccl but no CUDA device is visible: ",
              rc == cudaSuccess ? std::string("cudaGetDeviceCount found none")
                                : std::string("cudaGetDeviceCount: ") + cudaGetErrorString(rc));
    VLM_CHECK(local_device >= 0 && local_device < count, CommError, "CUDA device ", local_device,
              " does not exist: this process sees ", count, " (check CUDA_VISIBLE_DEVICES)");
  }

  // Rank 0 makes the id; everyone else learns its bytes through the bootstrap.
  ncclUniqueId exchange_unique_id() {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    if (bootstrap_->is_root()) VLM_NCCL_CHECK(ncclGetUniqueId(&id));
    std::string bytes(reinterpret_cast<const char*>(&id), sizeof(id));
    bootstrap_->broadcast(bytes, 0);
    VLM_CHECK(bytes.size() == sizeof(id), CommError, "the NCCL unique id from rank 0 has ",
              bytes.size(), " bytes, not ", sizeof(id));
    std::memcpy(&id, bytes.data(), sizeof(id));
    return id;
  }

  template <typename Call>
  Pending enqueue(const std::string& description, Call&& call) {
    state_->select_device();
    const ncclResult_t rc = call(state_->live_comm(description), state_->stream());
    VLM_CHECK(rc == ncclSuccess, CommError, description, " failed to start on rank ", rank(),
              " of ", size(), ": ", nccl_error_text(rc));
    return std::make_unique<NcclCollective>(state_, description, timeout_);
  }

  std::unique_ptr<Communicator> bootstrap_;
  std::shared_ptr<NcclState> state_;
  double timeout_ = 300.0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> bootstrap,
                                                     int local_device) {
  return std::make_unique<NcclCommunicator>(std::move(bootstrap), local_device);
}

std::string nccl_version() {
  int code = 0;
  VLM_NCCL_CHECK(ncclGetVersion(&code));
  // Since NCCL 2.9 the code is major * 10000 + minor * 100 + patch.
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." +
         std::to_string(code % 100);
}

}  // namespace vlm::cluster
