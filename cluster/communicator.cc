#include "cluster/communicator.h"

#include <cstdlib>
#include <cstring>

#include "cluster/nccl.h"
#include "cluster/widen.h"
#include "common/error.h"

namespace vlm::cluster {
namespace {

std::string_view as_bytes(const std::vector<int64_t>& values) {
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)};
}

std::vector<std::vector<int64_t>> as_int64_vectors(const std::vector<std::string>& blobs) {
  std::vector<std::vector<int64_t>> vectors;
  vectors.reserve(blobs.size());
  for (const std::string& blob : blobs) {
    VLM_CHECK(blob.size() % sizeof(int64_t) == 0, InternalError, "an int64 gather received ",
              blob.size(), " bytes, not a multiple of 8");
    std::vector<int64_t> values(blob.size() / sizeof(int64_t));
    if (!blob.empty()) std::memcpy(values.data(), blob.data(), blob.size());
    vectors.push_back(std::move(values));
  }
  return vectors;
}

// A collective that completed when it started.
class CompletedCollective final : public PendingCollective {
 public:
  void wait() override {}
  bool done() override { return true; }
};

void copy_buffer(FlatBuffer from, FlatBuffer to, const std::string& what, bool widening = false) {
  const bool widen = widening && from.dtype == DType::kBFloat16 && to.dtype == DType::kFloat32;
  VLM_CHECK(from.count == to.count && (from.dtype == to.dtype || widen), InternalError, what, ": ",
            from.count, " ", dtype_name(from.dtype), " elements cannot fill ", to.count, " ",
            dtype_name(to.dtype));
  if (widen) {
    widen_bf16_into(static_cast<float*>(to.data), from.data, from.count, /*add=*/false);
  } else if (from.data != to.data && from.count > 0) {
    std::memcpy(to.data, from.data, from.count * dtype_size(from.dtype));
  }
}

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void barrier() override {}
  void broadcast(std::string&, int root) override { check_root(root); }
  std::vector<std::string> gather(std::string_view bytes, int root) override {
    check_root(root);
    return {std::string(bytes)};
  }
  std::vector<std::string> all_gather(std::string_view bytes) override {
    return {std::string(bytes)};
  }
  void all_reduce(std::vector<int64_t>&, ReduceOp) override {}
  void all_reduce(std::vector<double>&, ReduceOp) override {}

  Pending start_all_gather(FlatBuffer send, FlatBuffer recv, const std::string& what) override {
    copy_buffer(send, recv, "all_gather of " + what);
    return std::make_unique<CompletedCollective>();
  }
  Pending start_reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp,
                               const std::string& what) override {
    copy_buffer(send, recv, "reduce_scatter of " + what, /*widening=*/true);
    return std::make_unique<CompletedCollective>();
  }
  Pending start_all_reduce(FlatBuffer, ReduceOp, const std::string&) override {
    return std::make_unique<CompletedCollective>();
  }
  Pending start_broadcast(FlatBuffer, int root, const std::string&) override {
    check_root(root);
    return std::make_unique<CompletedCollective>();
  }
  void barrier(const std::string&) override {}
  bool widens_bf16() const override { return true; }
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

 private:
  static void check_root(int root) {
    VLM_CHECK(root == 0, InternalError, "root rank ", root, " does not exist in a world of 1");
  }
  double timeout_ = 300.0;
};

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kBFloat16:
      return 2;
    case DType::kFloat64:
      return 8;
    case DType::kInt64:
      return 8;
  }
  VLM_THROW(InternalError, "unknown DType ", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat64:
      return "float64";
    case DType::kInt64:
      return "int64";
  }
  return "unknown";
}

void Communicator::count_sent(size_t bytes, int passes) {
  const auto world = static_cast<size_t>(size());
  sent_bytes_ += static_cast<int64_t>(bytes / world * (world - 1) * static_cast<size_t>(passes));
  ++collectives_;
}

Pending Communicator::all_gather(FlatBuffer send, FlatBuffer recv, const std::string& what) {
  count_sent(recv.count * dtype_size(recv.dtype), 1);
  return start_all_gather(send, recv, what);
}

Pending Communicator::reduce_scatter(FlatBuffer send, FlatBuffer recv, ReduceOp op,
                                     const std::string& what) {
  count_sent(send.count * dtype_size(send.dtype), 1);
  return start_reduce_scatter(send, recv, op, what);
}

Pending Communicator::all_reduce(FlatBuffer buffer, ReduceOp op, const std::string& what) {
  count_sent(buffer.count * dtype_size(buffer.dtype), 2);
  return start_all_reduce(buffer, op, what);
}

Pending Communicator::broadcast(FlatBuffer buffer, int root, const std::string& what) {
  count_sent(buffer.count * dtype_size(buffer.dtype), 1);
  return start_broadcast(buffer, root, what);
}

int64_t Communicator::all_reduce(int64_t value, ReduceOp op) {
  std::vector<int64_t> values = {value};
  all_reduce(values, op);
  return values[0];
}

double Communicator::all_reduce(double value, ReduceOp op) {
  std::vector<double> values = {value};
  all_reduce(values, op);
  return values[0];
}

std::vector<std::vector<int64_t>> Communicator::gather(const std::vector<int64_t>& values,
                                                       int root) {
  return as_int64_vectors(gather(as_bytes(values), root));
}

std::vector<std::vector<int64_t>> Communicator::all_gather(const std::vector<int64_t>& values) {
  return as_int64_vectors(all_gather(as_bytes(values)));
}

std::unique_ptr<Communicator> make_local_communicator() {
  return std::make_unique<LocalCommunicator>();
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return true;
  }
  return false;
}

std::unique_ptr<Communicator> open_communicator() {
  return launched_by_mpi() ? make_mpi_communicator() : make_local_communicator();
}

std::unique_ptr<Communicator> open_communicator(Backend backend, int local_device) {
  switch (backend) {
    case Backend::kNccl:
      return make_nccl_communicator(open_communicator(), local_device);
    case Backend::kMpi:
      return open_communicator();
    case Backend::kAuto:
      break;
  }
  VLM_THROW(InternalError, "cluster.backend auto reached open_communicator unresolved");
}

}  // namespace vlm::cluster
