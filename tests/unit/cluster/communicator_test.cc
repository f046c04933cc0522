// The communicator's collectives. Under ctest this runs on the single-process backend; the e2e
// test test_communicator_mpi.sh runs the same test under mpirun -np 3 (the MPI backend).
#include "cluster/communicator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace vlm::cluster {
namespace {

// MPI can be initialized once per process: one communicator for every test here.
Communicator& world() {
  static const std::unique_ptr<Communicator> communicator = open_communicator();
  return *communicator;
}

TEST(Communicator, BackendFollowsTheLauncher) {
  EXPECT_EQ(world().backend(), launched_by_mpi() ? "mpi" : "local");
  EXPECT_GE(world().rank(), 0);
  EXPECT_LT(world().rank(), world().size());
}

TEST(Communicator, CollectivesAgreeAcrossRanks) {
  Communicator& c = world();
  const int rank = c.rank();
  const int size = c.size();
  c.barrier();

  std::string message = rank == size - 1 ? std::string("from the last rank\0!", 20) : "";
  c.broadcast(message, size - 1);
  EXPECT_EQ(message, std::string("from the last rank\0!", 20));

  const auto gathered = c.gather(std::string(static_cast<size_t>(rank), 'x'), 0);
  ASSERT_EQ(gathered.size(), rank == 0 ? static_cast<size_t>(size) : 0u);
  for (int r = 0; r < static_cast<int>(gathered.size()); ++r) {
    EXPECT_EQ(gathered[static_cast<size_t>(r)], std::string(static_cast<size_t>(r), 'x'));
  }
  const auto everyone = c.all_gather(std::to_string(rank));
  ASSERT_EQ(everyone.size(), static_cast<size_t>(size));
  EXPECT_EQ(everyone.back(), std::to_string(size - 1));

  const auto vectors = c.all_gather(std::vector<int64_t>{rank, int64_t{rank} * rank});
  ASSERT_EQ(vectors.size(), static_cast<size_t>(size));
  EXPECT_EQ(vectors.back(), (std::vector<int64_t>{size - 1, int64_t{size - 1} * (size - 1)}));

  std::vector<int64_t> sums = {1, rank};
  c.all_reduce(sums, ReduceOp::kSum);
  EXPECT_EQ(sums, (std::vector<int64_t>{size, int64_t{size} * (size - 1) / 2}));
  EXPECT_EQ(c.all_reduce(int64_t{rank}, ReduceOp::kMax), size - 1);
  EXPECT_DOUBLE_EQ(c.all_reduce(0.5 * rank, ReduceOp::kSum), 0.25 * size * (size - 1));
  EXPECT_DOUBLE_EQ(c.all_reduce(-1.0 * rank, ReduceOp::kMax), 0.0);
}

// A bf16 send summed into a float32 recv: with one rank (or many), each element is the exact
// float32 the bf16 bits stand for, summed over ranks in rank order (here: values that are exact).
TEST(Communicator, ReduceScatterWidensBf16IntoFloat) {
  Communicator& c = world();
  ASSERT_TRUE(c.widens_bf16());
  const size_t size = static_cast<size_t>(c.size());
  // 1.5, -2.25, 3.0, 0.0078125 as bf16 bits; every rank sends the same.
  const std::vector<uint16_t> values = {0x3FC0, 0xC010, 0x4040, 0x3C00};
  std::vector<uint16_t> send;
  for (size_t r = 0; r < size; ++r) send.insert(send.end(), values.begin(), values.end());
  std::vector<float> recv(values.size(), -1.0f);
  c.reduce_scatter(FlatBuffer{send.data(), send.size(), DType::kBFloat16},
                   FlatBuffer{recv.data(), recv.size(), DType::kFloat32}, ReduceOp::kSum,
                   "the widening test")
      ->wait();
  const float n = static_cast<float>(size);
  EXPECT_EQ(recv, (std::vector<float>{1.5f * n, -2.25f * n, 3.0f * n, 0.0078125f * n}));
}

}  // namespace
}  // namespace vlm::cluster
