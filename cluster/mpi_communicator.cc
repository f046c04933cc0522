// The MPI backend of Communicator. Every collective is started non-blocking and completed by
// polling with short sleeps: Open MPI's blocking calls spin at 100% CPU while they wait, which on
// a machine with as many ranks as cores takes the core a working rank needs.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <exception>
#include <thread>

#include "cluster/communicator.h"
#include "common/error.h"

namespace vlm::cluster {
namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

#define VLM_MPI_CHECK(call)                                                                        \
  do {                                                                                             \
    const int vlm_mpi_rc = (call);                                                                 \
    VLM_CHECK(vlm_mpi_rc == MPI_SUCCESS, IoError, #call, " failed: ", mpi_error_text(vlm_mpi_rc)); \
  } while (0)

// Completes a request; the first polls are tight (collectives between ranks that arrive
// together finish in microseconds), later ones sleep up to a millisecond.
void wait_for(MPI_Request& request) {
  auto pause = std::chrono::microseconds(0);
  for (;;) {
    int done = 0;
    VLM_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
  }
}

int checked_count(size_t bytes) {
  VLM_CHECK(bytes <= static_cast<size_t>(INT_MAX), InternalError, "a collective of ", bytes,
            " bytes is larger than MPI's int count allows");
  return static_cast<int>(bytes);
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kSum ? MPI_SUM : MPI_MAX; }

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kBFloat16:
      return MPI_UINT16_T;
    case DType::kFloat64:
      return MPI_DOUBLE;
    case DType::kInt64:
      return MPI_INT64_T;
  }
  return MPI_BYTE;
}

class Done final : public PendingCollective {
 public:
  void wait() override {}
  bool done() override { return true; }
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
      VLM_CHECK(rc == MPI_SUCCESS, IoError, "MPI_Init_thread failed: ", mpi_error_text(rc));
      owns_mpi_ = true;
    }
    // Errors come back as codes and become exceptions, instead of aborting the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }

  ~MpiCommunicator() override {
    // With an exception on its way out, other ranks may be waiting in a collective this rank
    // never joins: MPI_Finalize could then hang. Exiting without it makes mpirun end the job.
    if (owns_mpi_ && std::uncaught_exceptions() == 0) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override {
    MPI_Request request;
    VLM_MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
    wait_for(request);
  }

  void broadcast(std::string& bytes, int root) override {
    int64_t length = static_cast<int64_t>(bytes.size());
    broadcast_raw(&length, 1, MPI_INT64_T, root);
    bytes.resize(static_cast<size_t>(length));
    broadcast_raw(bytes.data(), checked_count(bytes.size()), MPI_BYTE, root);
  }

  std::vector<std::string> gather(std::string_view bytes, int root) override {
    return gather_blobs(bytes, root, /*everyone=*/false);
  }

  std::vector<std::string> all_gather(std::string_view bytes) override {
    return gather_blobs(bytes, 0, /*everyone=*/true);
  }

  void all_reduce(std::vector<int64_t>& values, ReduceOp op) override {
    reduce_raw(values.data(), checked_count(values.size()), MPI_INT64_T, op);
  }

  void all_reduce(std::vector<double>& values, ReduceOp op) override {
    reduce_raw(values.data(), checked_count(values.size()), MPI_DOUBLE, op);
  }

  // Flat-buffer collectives, blocking for now (the asynchronous version is on its way).
  Pending all_gather(FlatBuffer send, FlatBuffer recv, const std::string&) override {
    MPI_Request request;
    VLM_MPI_CHECK(MPI_Iallgather(send.data, checked_count(send.count), mpi_type(send.dtype),
                                 recv.data, checked_count(send.count), mpi_type(recv.dtype),
                                 MPI_COMM_WORLD, &request));
    wait_for(request);
    return std::make_unique<Done>();
  }
  Pending reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp op,
                         const std::string&) override {
    MPI_Request request;
    VLM_MPI_CHECK(MPI_Ireduce_scatter_block(send.data, recv.data, checked_count(recv.count),
                                            mpi_type(recv.dtype), mpi_op(op), MPI_COMM_WORLD,
                                            &request));
    wait_for(request);
    return std::make_unique<Done>();
  }
  Pending all_reduce(FlatBuffer buffer, ReduceOp op, const std::string&) override {
    reduce_raw(buffer.data, checked_count(buffer.count), mpi_type(buffer.dtype), op);
    return std::make_unique<Done>();
  }
  Pending broadcast(FlatBuffer buffer, int root, const std::string&) override {
    broadcast_raw(buffer.data, checked_count(buffer.count), mpi_type(buffer.dtype), root);
    return std::make_unique<Done>();
  }
  void barrier(const std::string&) override { barrier(); }
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

 private:
  void broadcast_raw(void* data, int count, MPI_Datatype type, int root) {
    MPI_Request request;
    VLM_MPI_CHECK(MPI_Ibcast(data, count, type, root, MPI_COMM_WORLD, &request));
    wait_for(request);
  }

  void reduce_raw(void* data, int count, MPI_Datatype type, ReduceOp op) {
    MPI_Request request;
    VLM_MPI_CHECK(
        MPI_Iallreduce(MPI_IN_PLACE, data, count, type, mpi_op(op), MPI_COMM_WORLD, &request));
    wait_for(request);
  }

  // Sizes first (every rank learns them, which all_gather needs and gather tolerates), then
  // the bytes with displacements.
  std::vector<std::string> gather_blobs(std::string_view bytes, int root, bool everyone) {
    int length = checked_count(bytes.size());
    std::vector<int> lengths(static_cast<size_t>(size_));
    MPI_Request request;
    VLM_MPI_CHECK(
        MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD, &request));
    wait_for(request);
    std::vector<int> offsets(lengths.size());
    size_t total = 0;
    for (size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = checked_count(total);
      total += static_cast<size_t>(lengths[r]);
    }
    checked_count(total);
    const bool receives = everyone || rank_ == root;
    std::string all(receives ? total : 0, '\0');
    // MPI wants non-const send buffers in its older signatures; it does not write to them.
    void* send = const_cast<char*>(bytes.data());
    if (everyone) {
      VLM_MPI_CHECK(MPI_Iallgatherv(send, length, MPI_BYTE, all.data(), lengths.data(),
                                    offsets.data(), MPI_BYTE, MPI_COMM_WORLD, &request));
    } else {
      VLM_MPI_CHECK(MPI_Igatherv(send, length, MPI_BYTE, all.data(), lengths.data(), offsets.data(),
                                 MPI_BYTE, root, MPI_COMM_WORLD, &request));
    }
    wait_for(request);
    std::vector<std::string> blobs;
    if (!receives) return blobs;
    for (size_t r = 0; r < lengths.size(); ++r) {
      blobs.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(lengths[r])));
    }
    return blobs;
  }

  bool owns_mpi_ = false;
  double timeout_ = 300.0;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace vlm::cluster
