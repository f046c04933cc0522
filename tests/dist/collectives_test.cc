// The MPI backend's collectives across real ranks. CTest runs this binary under mpirun for 1 to 4
// ranks; every rank runs every test, so all of them issue the same collectives in the same order.
// Rank 0 prints gtest's report, the other ranks only their failures, each line marked with the
// rank. Modes:
//   --failure-tests only the tests of failures (CollectiveFailures.*), which take seconds;
//   --bench         rank 0 prints the GB/s of each collective at 1, 4 and 16 MB to stderr.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/communicator.h"
#include "cluster/mpi_communicator.h"
#include "common/error.h"

namespace vlm::cluster {
namespace {

Communicator* g_world = nullptr;
// Splits anything above kPieceLimit elements into several MPI calls.
Communicator* g_pieces = nullptr;
constexpr size_t kPieceLimit = 1000;

Communicator& world() { return *g_world; }

// ---- Element types as the tests hold them; bfloat16 as its bits.

template <typename T>
constexpr DType kDType = DType::kFloat32;
template <>
constexpr DType kDType<double> = DType::kFloat64;
template <>
constexpr DType kDType<int64_t> = DType::kInt64;
template <>
constexpr DType kDType<uint16_t> = DType::kBFloat16;

template <typename T>
FlatBuffer flat(std::vector<T>& values) {
  return FlatBuffer{values.data(), values.size(), kDType<T>};
}

// Rank r's element i is base(i) + r * step(i), exact in every type, so that sums and maxima over
// the ranks have closed forms whatever order MPI adds in.
template <typename T>
T base(size_t i);
template <typename T>
T step(size_t i);
template <>
float base<float>(size_t i) {
  return static_cast<float>(static_cast<int64_t>(i * 7 % 1021) - 510);
}
template <>
float step<float>(size_t i) {
  return static_cast<float>(static_cast<int64_t>(i % 5) - 2);
}
template <>
double base<double>(size_t i) {
  return static_cast<double>(i % 4093) * 0.5 - 1000.25;
}
template <>
double step<double>(size_t i) {
  return (static_cast<double>(i % 7) - 3) * 0.125;
}
template <>
int64_t base<int64_t>(size_t i) {
  return static_cast<int64_t>(i) * 1000000007 - (int64_t{1} << 50);
}
template <>
int64_t step<int64_t>(size_t i) {
  return (static_cast<int64_t>(i % 9) - 4) * (int64_t{1} << 33);
}

template <typename T>
T value(int rank, size_t i) {
  return base<T>(i) + static_cast<T>(rank) * step<T>(i);
}
template <>
uint16_t value<uint16_t>(int rank, size_t i) {
  return static_cast<uint16_t>((i * 31 + static_cast<size_t>(rank) * 7919) & 0xFFFF);
}

template <typename T>
T reduced(ReduceOp op, int size, size_t i) {
  const T ranks = static_cast<T>(size);
  if (op == ReduceOp::kSum) {
    return ranks * base<T>(i) + step<T>(i) * static_cast<T>(size * (size - 1) / 2);
  }
  return base<T>(i) + (step<T>(i) > 0 ? (ranks - 1) * step<T>(i) : T{0});
}

template <typename T>
std::vector<T> values_of(int rank, size_t count) {
  std::vector<T> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = value<T>(rank, i);
  return values;
}

const char* op_name(ReduceOp op) { return op == ReduceOp::kSum ? "sum" : "max"; }

std::string where(const Communicator& c) {
  return " on rank " + std::to_string(c.rank()) + " of " + std::to_string(c.size());
}

// Checks every element; reports the first few wrong ones and how many there were.
template <typename T, typename Expected>
void expect_elements(const std::vector<T>& got, Expected expected, const std::string& context) {
  size_t wrong = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const T want = expected(i);
    if (got[i] == want) continue;
    if (++wrong <= 3) {
      ADD_FAILURE() << context << ": element " << i << " is " << +got[i] << ", expected " << +want;
    }
  }
  EXPECT_EQ(wrong, 0u) << context << ": " << wrong << " of " << got.size() << " elements wrong";
}

// ---- One collective, checked.

template <typename T>
void check_all_gather(Communicator& c, size_t count) {
  const std::string what =
      std::string("all_gather ") + dtype_name(kDType<T>) + " x " + std::to_string(count) + where(c);
  std::vector<T> send = values_of<T>(c.rank(), count);
  std::vector<T> recv(count * static_cast<size_t>(c.size()), T{7});
  c.all_gather(flat(send), flat(recv), what)->wait();
  expect_elements(
      recv, [&](size_t j) { return value<T>(static_cast<int>(j / count), j % count); }, what);
}

// send is this rank's block of recv: the shard lives inside the gathered buffer.
template <typename T>
void check_all_gather_in_place(Communicator& c, size_t count) {
  const std::string what = std::string("in-place all_gather ") + dtype_name(kDType<T>) + " x " +
                           std::to_string(count) + where(c);
  std::vector<T> recv(count * static_cast<size_t>(c.size()), T{7});
  T* mine = recv.data() + static_cast<size_t>(c.rank()) * count;
  for (size_t i = 0; i < count; ++i) mine[i] = value<T>(c.rank(), i);
  c.all_gather(FlatBuffer{mine, count, kDType<T>}, flat(recv), what)->wait();
  expect_elements(
      recv, [&](size_t j) { return value<T>(static_cast<int>(j / count), j % count); }, what);
}

template <typename T>
void check_reduce_scatter(Communicator& c, size_t count, ReduceOp op) {
  const std::string what = std::string("reduce_scatter ") + op_name(op) + " " +
                           dtype_name(kDType<T>) + " x " + std::to_string(count) + where(c);
  std::vector<T> send = values_of<T>(c.rank(), count * static_cast<size_t>(c.size()));
  std::vector<T> recv(count, T{7});
  c.reduce_scatter(flat(send), flat(recv), op, what)->wait();
  const size_t first = static_cast<size_t>(c.rank()) * count;
  expect_elements(
      recv, [&](size_t i) { return reduced<T>(op, c.size(), first + i); }, what);
}

template <typename T>
void check_all_reduce(Communicator& c, size_t count, ReduceOp op) {
  const std::string what = std::string("all_reduce ") + op_name(op) + " " + dtype_name(kDType<T>) +
                           " x " + std::to_string(count) + where(c);
  std::vector<T> buffer = values_of<T>(c.rank(), count);
  c.all_reduce(flat(buffer), op, what)->wait();
  expect_elements(
      buffer, [&](size_t i) { return reduced<T>(op, c.size(), i); }, what);
}

template <typename T>
void check_broadcast(Communicator& c, size_t count, int root) {
  const std::string what = std::string("broadcast ") + dtype_name(kDType<T>) + " x " +
                           std::to_string(count) + " from " + std::to_string(root) + where(c);
  // Other ranks start with values that differ from root's.
  std::vector<T> buffer = values_of<T>(c.rank() == root ? root : c.size() + c.rank(), count);
  c.broadcast(flat(buffer), root, what)->wait();
  expect_elements(
      buffer, [&](size_t i) { return value<T>(root, i); }, what);
}

constexpr size_t kCounts[] = {0, 1, 7, 1000, 1000003};
// Per-rank counts of all_gather and reduce_scatter.
constexpr size_t kBlockCounts[] = {0, 1, 7, 1000, 4099, 250007};
constexpr ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kMax};

TEST(FlatCollectives, AllGatherMovesEveryTypeAndCount) {
  for (size_t count : kBlockCounts) {
    check_all_gather<float>(world(), count);
    check_all_gather<double>(world(), count);
    check_all_gather<int64_t>(world(), count);
    check_all_gather<uint16_t>(world(), count);
    check_all_gather_in_place<float>(world(), count);
    check_all_gather_in_place<uint16_t>(world(), count);
  }
}

TEST(FlatCollectives, ReduceScatterSumsAndMaxes) {
  for (size_t count : kBlockCounts) {
    for (ReduceOp op : kOps) {
      check_reduce_scatter<float>(world(), count, op);
      check_reduce_scatter<double>(world(), count, op);
      check_reduce_scatter<int64_t>(world(), count, op);
    }
  }
}

TEST(FlatCollectives, AllReduceSumsAndMaxes) {
  for (size_t count : kCounts) {
    for (ReduceOp op : kOps) {
      check_all_reduce<float>(world(), count, op);
      check_all_reduce<double>(world(), count, op);
      check_all_reduce<int64_t>(world(), count, op);
    }
  }
}

TEST(FlatCollectives, BroadcastFromEveryRoot) {
  for (size_t count : kCounts) {
    for (int root = 0; root < world().size(); ++root) {
      check_broadcast<float>(world(), count, root);
      check_broadcast<double>(world(), count, root);
      check_broadcast<int64_t>(world(), count, root);
      check_broadcast<uint16_t>(world(), count, root);
    }
  }
}

// traffic() counts what a ring algorithm sends from each rank: (N-1) blocks for an all-gather of
// one block per rank and for a reduce-scatter, twice (N-1)/N of the buffer for an all-reduce.
TEST(FlatCollectives, TrafficCountsRingVolumes) {
  Communicator& c = world();
  const auto n = static_cast<int64_t>(c.size());
  const int64_t block = 1000;
  std::vector<float> own(block), all(static_cast<size_t>(block * n));
  const Communicator::Traffic before = c.traffic();
  c.all_gather(flat(own), flat(all), "the traffic test")->wait();
  EXPECT_EQ(c.traffic().bytes - before.bytes, (n - 1) * block * 4);
  c.reduce_scatter(flat(all), flat(own), ReduceOp::kSum, "the traffic test")->wait();
  EXPECT_EQ(c.traffic().bytes - before.bytes, 2 * (n - 1) * block * 4);
  std::vector<double> reduced(static_cast<size_t>(block * n));
  c.all_reduce(flat(reduced), ReduceOp::kSum, "the traffic test")->wait();
  EXPECT_EQ(c.traffic().bytes - before.bytes, 2 * (n - 1) * block * 4 + 2 * (n - 1) * block * 8);
  EXPECT_EQ(c.traffic().collectives - before.collectives, 3);
}

// MPI counts are ints; above the limit a collective is split into several MPI calls. The limit is
// lowered here so that small buffers cross it.
TEST(FlatCollectives, LargeCountsGoInPieces) {
  Communicator& c = *g_pieces;
  for (size_t count : {size_t{7}, size_t{700}, size_t{4099}}) {
    check_all_gather<float>(c, count);
    check_all_gather<uint16_t>(c, count);
    check_all_gather_in_place<double>(c, count);
    check_reduce_scatter<float>(c, count, ReduceOp::kSum);
    check_reduce_scatter<int64_t>(c, count, ReduceOp::kMax);
  }
  for (size_t count : {kPieceLimit, kPieceLimit + 1, size_t{10007}}) {
    check_all_reduce<double>(c, count, ReduceOp::kSum);
    check_all_reduce<int64_t>(c, count, ReduceOp::kMax);
    check_broadcast<uint16_t>(c, count, c.size() - 1);
    check_broadcast<float>(c, count, 0);
  }
}

TEST(FlatCollectives, SeveralInFlightCompleteInOrder) {
  Communicator& c = world();
  const size_t block = 250007;
  const size_t size = static_cast<size_t>(c.size());
  std::vector<float> gather_send = values_of<float>(c.rank(), block);
  std::vector<float> gathered(block * size);
  std::vector<double> scatter_send = values_of<double>(c.rank(), block * size);
  std::vector<double> scattered(block);
  std::vector<int64_t> reduced_in_place = values_of<int64_t>(c.rank(), 1000003);

  Pending first = c.all_gather(flat(gather_send), flat(gathered), "the first in flight");
  Pending second =
      c.reduce_scatter(flat(scatter_send), flat(scattered), ReduceOp::kSum, "the second in flight");
  Pending third = c.all_reduce(flat(reduced_in_place), ReduceOp::kMax, "the third in flight");
  third->wait();
  // Completion is published in start order.
  EXPECT_TRUE(second->done());
  EXPECT_TRUE(first->done());
  second->wait();
  first->wait();
  first->wait();  // again: a no-op

  expect_elements(
      gathered, [&](size_t j) { return value<float>(static_cast<int>(j / block), j % block); },
      "all_gather in flight");
  const size_t offset = static_cast<size_t>(c.rank()) * block;
  expect_elements(
      scattered, [&](size_t i) { return reduced<double>(ReduceOp::kSum, c.size(), offset + i); },
      "reduce_scatter in flight");
  expect_elements(
      reduced_in_place, [&](size_t i) { return reduced<int64_t>(ReduceOp::kMax, c.size(), i); },
      "all_reduce in flight");
}

// Inexact sums: every rank must still hold the same bits. reduce_scatter adds in rank order.
TEST(FlatCollectives, ReductionsAgreeBitForBit) {
  Communicator& c = world();
  const size_t count = 100003;
  const size_t size = static_cast<size_t>(c.size());
  const auto inexact = [](int rank, size_t i) {
    return static_cast<float>(std::sin(0.001 * static_cast<double>(i) + rank) * 1000.0 +
                              1.0 / (static_cast<double>(i) + 3.0));
  };
  std::vector<float> summed(count);
  for (size_t i = 0; i < count; ++i) summed[i] = inexact(c.rank(), i);
  c.all_reduce(flat(summed), ReduceOp::kSum, "inexact floats")->wait();
  std::vector<float> everyones(count * size);
  c.all_gather(flat(summed), flat(everyones), "every rank's sums")->wait();
  expect_elements(
      everyones, [&](size_t j) { return everyones[j % count]; }, "all_reduce's bits");

  std::vector<float> send(count * size);
  for (size_t j = 0; j < send.size(); ++j) send[j] = inexact(c.rank(), j);
  std::vector<float> mine(count);
  c.reduce_scatter(flat(send), flat(mine), ReduceOp::kSum, "inexact floats")->wait();
  const size_t offset = static_cast<size_t>(c.rank()) * count;
  expect_elements(
      mine,
      [&](size_t i) {
        float sum = inexact(0, offset + i);
        for (int r = 1; r < c.size(); ++r) sum += inexact(r, offset + i);
        return sum;
      },
      "reduce_scatter in rank order");
}

TEST(FlatCollectives, HandleDroppedEarlyWaitsForItsCollective) {
  Communicator& c = world();
  const size_t block = 250007;
  std::vector<int64_t> send = values_of<int64_t>(c.rank(), block);
  std::vector<int64_t> recv(block * static_cast<size_t>(c.size()));
  c.all_gather(flat(send), flat(recv), "a dropped handle").reset();
  expect_elements(
      recv, [&](size_t j) { return value<int64_t>(static_cast<int>(j / block), j % block); },
      "all_gather of a dropped handle");
}

// The blocking calls go through the same queue: issued while an all_gather is in flight, they
// pair with the same calls on the other ranks.
TEST(FlatCollectives, BlockingCallsQueueBehindAsynchronousOnes) {
  Communicator& c = world();
  const size_t block = 4099;
  std::vector<double> send = values_of<double>(c.rank(), block);
  std::vector<double> recv(block * static_cast<size_t>(c.size()));
  Pending pending = c.all_gather(flat(send), flat(recv), "an all_gather before blocking calls");
  c.barrier("a barrier behind an all_gather");
  EXPECT_EQ(c.all_reduce(int64_t{c.rank()}, ReduceOp::kSum),
            int64_t{c.size()} * (c.size() - 1) / 2);
  std::string message = c.rank() == c.size() - 1 ? std::string("from the last\0!", 15) : "";
  c.broadcast(message, c.size() - 1);
  EXPECT_EQ(message, std::string("from the last\0!", 15));
  const auto gathered = c.gather(std::string(static_cast<size_t>(c.rank()), 'x'), 0);
  ASSERT_EQ(gathered.size(), c.rank() == 0 ? static_cast<size_t>(c.size()) : 0u);
  for (size_t r = 0; r < gathered.size(); ++r) EXPECT_EQ(gathered[r], std::string(r, 'x'));
  const auto everyone = c.all_gather(std::vector<int64_t>{c.rank(), -c.rank()});
  ASSERT_EQ(everyone.size(), static_cast<size_t>(c.size()));
  EXPECT_EQ(everyone.back(), (std::vector<int64_t>{c.size() - 1, 1 - c.size()}));
  pending->wait();
  expect_elements(
      recv, [&](size_t j) { return value<double>(static_cast<int>(j / block), j % block); },
      "all_gather before blocking calls");
}

// Mistakes in the arguments throw at the call, on the calling rank, before anything is sent.
template <typename Call>
void expect_rejected(Call call, const std::string& what, const std::string& reason) {
  try {
    call();
    ADD_FAILURE() << what << ": accepted";
  } catch (const InternalError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(what), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

// bf16 gradients travel as bf16 and are summed in float32, in rank order: the same bits as
// widening every contribution first and reducing in float32; the traffic counts bf16 bytes.
TEST(FlatCollectives, ReduceScatterSumsBf16IntoFloat) {
  for (Communicator* c : {g_world, g_pieces}) {
    ASSERT_TRUE(c->widens_bf16());
    const size_t count = 4099;
    const size_t size = static_cast<size_t>(c->size());
    const auto bits = [](int rank, size_t j) {
      const float value = static_cast<float>(std::sin(0.01 * static_cast<double>(j) + rank) * 3.0);
      uint32_t wide;
      std::memcpy(&wide, &value, sizeof wide);
      return static_cast<uint16_t>(wide >> 16);
    };
    const auto widened = [](uint16_t b) {
      const uint32_t wide = static_cast<uint32_t>(b) << 16;
      float value;
      std::memcpy(&value, &wide, sizeof value);
      return value;
    };
    std::vector<uint16_t> send(count * size);
    for (size_t j = 0; j < send.size(); ++j) send[j] = bits(c->rank(), j);
    std::vector<float> mine(count, 7.0f);
    const int64_t sent_before = c->traffic().bytes;
    c->reduce_scatter(flat(send), flat(mine), ReduceOp::kSum, "bf16 into float" + where(*c))
        ->wait();
    EXPECT_EQ(c->traffic().bytes - sent_before,
              static_cast<int64_t>(2 * count * (size - 1)));  // bf16 bytes, ring volume
    const size_t offset = static_cast<size_t>(c->rank()) * count;
    expect_elements(
        mine,
        [&](size_t i) {
          float sum = widened(bits(0, offset + i));
          for (int r = 1; r < c->size(); ++r) sum += widened(bits(r, offset + i));
          return sum;
        },
        "bf16 summed into float32 in rank order" + where(*c));
    expect_rejected([&] { c->reduce_scatter(flat(send), flat(mine), ReduceOp::kMax, "bf16 max"); },
                    "reduce_scatter of bf16 max", "summed only");
  }
}

TEST(FlatCollectives, RejectsBuffersThatDoNotFit) {
  Communicator& c = world();
  const size_t size = static_cast<size_t>(c.size());
  std::vector<float> floats(4 * size);
  std::vector<double> doubles(4 * size + 1);
  std::vector<double> three(3);
  std::vector<uint16_t> halves(4 * size);
  FlatBuffer four_floats{floats.data(), 4, DType::kFloat32};
  FlatBuffer four_doubles{doubles.data(), 4, DType::kFloat64};
  FlatBuffer all_doubles{doubles.data(), 4 * size, DType::kFloat64};
  expect_rejected([&] { c.all_gather(four_floats, all_doubles, "mixed types"); }, "mixed types",
                  "send holds float32 but recv float64");
  expect_rejected([&] { c.all_gather(four_doubles, flat(three), "short recv"); }, "short recv",
                  "recv holds 3 elements");
  expect_rejected([&] { c.reduce_scatter(four_doubles, flat(three), ReduceOp::kSum, "short"); },
                  "reduce_scatter of short", "send holds 4 elements");
  // Overlapping, but not this rank's own block (which would be in place).
  FlatBuffer shifted{doubles.data() + 1, 4, DType::kFloat64};
  expect_rejected([&] { c.all_gather(shifted, all_doubles, "shifted"); }, "shifted", "overlap");
  expect_rejected([&] { c.all_reduce(flat(halves), ReduceOp::kSum, "bf16 grads"); }, "bf16 grads",
                  "bfloat16 is not reduced");
  expect_rejected([&] { c.broadcast(four_floats, c.size(), "a lost root"); }, "a lost root",
                  "root rank");
  FlatBuffer no_data{nullptr, 3, DType::kFloat32};
  expect_rejected([&] { c.all_reduce(no_data, ReduceOp::kMax, "nothing"); }, "nothing", "no data");
  c.barrier("the rejections");  // nothing was sent: the ranks still agree
}

TEST(FlatCollectives, TimeoutIsASetting) {
  Communicator& c = world();
  const double before = c.timeout();
  c.set_timeout(12.5);
  EXPECT_EQ(c.timeout(), 12.5);
  c.set_timeout(before);
}

// ---- Failures. A communicator past a failure refuses collectives: each test makes its own.

// Rank 0 starts an all_gather that the other ranks join only after twice the timeout: rank 0's
// wait must throw in time, naming the collective. The late peers then complete the collective
// after all, so that nothing is left in flight and every rank ends cleanly.
TEST(CollectiveFailures, WaitTimesOutNamingTheCollective) {
  if (world().size() < 2) GTEST_SKIP() << "needs a peer that does not come";
  std::unique_ptr<Communicator> own = make_mpi_communicator();
  Communicator& c = *own;
  c.barrier("the start of the timeout test");
  const double timeout = 2.0;
  c.set_timeout(timeout);
  const std::string what = "unit llm.layers.3 at step 12";
  const size_t block = 5;
  std::vector<int64_t> send = values_of<int64_t>(c.rank(), block);
  std::vector<int64_t> recv(block * static_cast<size_t>(c.size()));
  Pending pending;
  if (c.rank() == 0) {
    pending = c.all_gather(flat(send), flat(recv), what);
    const auto start = std::chrono::steady_clock::now();
    try {
      pending->wait();
      ADD_FAILURE() << "wait() returned while no peer had joined";
    } catch (const CommError& error) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_GE(waited, 0.95 * timeout);
      EXPECT_LT(waited, 2 * timeout);
      const std::string message = error.what();
      std::fprintf(stderr, "rank 0's error: %s\n", message.c_str());
      for (const std::string& part :
           {std::string("all_gather of ") + what, std::string("timed out after 2 s"),
            "on rank 0 of " + std::to_string(c.size())}) {
        EXPECT_NE(message.find(part), std::string::npos) << message;
      }
    }
    EXPECT_FALSE(pending->done());
    // Past a timeout the ranks may disagree on what comes next: new collectives are refused.
    EXPECT_THROW(c.barrier("after the timeout"), CommError);
  } else {
    std::this_thread::sleep_for(std::chrono::duration<double>(2 * timeout));
    pending = c.all_gather(flat(send), flat(recv), what);
  }
  c.set_timeout(60);
  pending->wait();
  expect_elements(
      recv, [&](size_t j) { return value<int64_t>(static_cast<int>(j / block), j % block); },
      "the late all_gather");
}

// Rank 0 sends longer blocks than the others expect: MPI reports truncation on the others, and
// their wait names the collective, its purpose and MPI's words.
TEST(CollectiveFailures, MpiErrorsNameTheCollective) {
  if (world().size() < 2) GTEST_SKIP() << "needs ranks that disagree";
  std::unique_ptr<Communicator> own = make_mpi_communicator();
  Communicator& c = *own;
  c.set_timeout(60);
  const size_t block = c.rank() == 0 ? 64 : 16;
  std::vector<float> send(block * static_cast<size_t>(c.size()), 1.0f);
  std::vector<float> recv(block);
  Pending pending = c.reduce_scatter(flat(send), flat(recv), ReduceOp::kSum, "mismatched blocks");
  if (c.rank() == 0) {
    pending->wait();  // shorter messages fit its receives
    return;
  }
  try {
    pending->wait();
    ADD_FAILURE() << "a truncated receive went unreported";
  } catch (const CommError& error) {
    const std::string message = error.what();
    if (c.rank() == 1) std::fprintf(stderr, "rank 1's error: %s\n", message.c_str());
    const std::string where = "on rank " + std::to_string(c.rank());
    for (const std::string& part : {std::string("reduce_scatter of mismatched blocks failed"),
                                    where, std::string("truncated")}) {
      EXPECT_NE(message.find(part), std::string::npos) << message;
    }
  }
  EXPECT_THROW(c.barrier("after the error"), CommError);
}

// ---- Bench mode.

double seconds_per_call(Communicator& c, const std::function<Pending()>& start) {
  // A null handle: the call was blocking.
  const auto call = [&] {
    if (Pending pending = start()) pending->wait();
  };
  for (int i = 0; i < 3; ++i) call();
  std::vector<double> rounds;
  for (int round = 0; round < 5; ++round) {
    c.barrier("a bench round");
    const auto begin = std::chrono::steady_clock::now();
    const int calls = 20;
    for (int i = 0; i < calls; ++i) call();
    rounds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() / calls);
  }
  return *std::min_element(rounds.begin(), rounds.end());
}

// Latency of a one-element all_reduce and a barrier, then GB/s of the full buffer (all_gather's
// recv, reduce_scatter's send); best of 5 rounds of 20 calls.
void bench(Communicator& c) {
  std::vector<double> one(1, 1.0);
  const double reduce =
      seconds_per_call(c, [&] { return c.all_reduce(flat(one), ReduceOp::kSum, "bench"); });
  const double barrier = seconds_per_call(c, [&] {
    c.barrier("bench");
    return Pending();
  });
  if (c.rank() == 0) {
    std::fprintf(stderr, "%d ranks: all_reduce of 1 double %.1f us, barrier %.1f us\n", c.size(),
                 reduce * 1e6, barrier * 1e6);
  }
  for (size_t megabytes : {1, 4, 16}) {
    const size_t total = megabytes * 1024 * 1024 / sizeof(float);
    const size_t block = total / static_cast<size_t>(c.size());
    std::vector<float> full(block * static_cast<size_t>(c.size()), 1.0f);
    std::vector<float> part(block, 1.0f);
    const std::pair<const char*, std::function<Pending()>> calls[] = {
        {"all_gather", [&] { return c.all_gather(flat(part), flat(full), "bench"); }},
        {"all_gather in place",
         [&] {
           FlatBuffer mine{full.data() + static_cast<size_t>(c.rank()) * block, block,
                           DType::kFloat32};
           return c.all_gather(mine, flat(full), "bench");
         }},
        {"reduce_scatter",
         [&] { return c.reduce_scatter(flat(full), flat(part), ReduceOp::kSum, "bench"); }},
        {"all_reduce", [&] { return c.all_reduce(flat(full), ReduceOp::kSum, "bench"); }},
        {"broadcast", [&] { return c.broadcast(flat(full), 0, "bench"); }},
    };
    for (const auto& [name, start] : calls) {
      const double seconds = seconds_per_call(c, start);
      if (c.rank() == 0) {
        std::fprintf(stderr, "%d ranks %2zu MB %-19s %6.2f GB/s (%.3f ms)\n", c.size(), megabytes,
                     name, static_cast<double>(full.size() * sizeof(float)) / seconds / 1e9,
                     seconds * 1e3);
      }
    }
  }
}

// ---- Output: rank 0 prints gtest's report; the others only their failures.

class RankFailures : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailures(int rank) : prefix_("[rank " + std::to_string(rank) + "] ") {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string text = result.file_name() ? result.file_name() : "?";
    text += ":" + std::to_string(result.line_number()) + ": " + result.message();
    // Every line marked, so that grep finds the whole message of one rank.
    for (size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 1)) {
      text.replace(at, 1, "\n" + prefix_);
    }
    std::fprintf(stderr, "%s%s\n", prefix_.c_str(), text.c_str());
  }
  void OnTestEnd(const ::testing::TestInfo& test) override {
    if (!test.result()->Failed()) return;
    std::fprintf(stderr, "%sFAILED %s.%s\n", prefix_.c_str(), test.test_suite_name(), test.name());
  }

 private:
  std::string prefix_;
};

bool take_flag(int& argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], flag) != 0) continue;
    std::copy(argv + i + 1, argv + argc + 1, argv + i);
    --argc;
    return true;
  }
  return false;
}

int run(int argc, char** argv) {
  const bool failure_tests = take_flag(argc, argv, "--failure-tests");
  const bool bench_mode = take_flag(argc, argv, "--bench");
  ::testing::InitGoogleTest(&argc, argv);
  // MPI starts once per process: the communicator that starts it lives for the whole run (the
  // failure tests make their own beside it).
  std::unique_ptr<Communicator> world = make_mpi_communicator();
  // A rank that falls out of step fails well within CTest's timeout instead of hanging.
  world->set_timeout(30);
  g_world = world.get();
  if (bench_mode) {
    bench(*world);
    return 0;
  }
  std::unique_ptr<Communicator> pieces = make_mpi_communicator(MpiOptions{kPieceLimit});
  pieces->set_timeout(30);
  g_pieces = pieces.get();

  if (failure_tests) {
    GTEST_FLAG_SET(filter, "CollectiveFailures.*");
  } else if (GTEST_FLAG_GET(filter) == "*") {
    GTEST_FLAG_SET(filter, "-CollectiveFailures.*");
  }
  if (world->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailures(world->rank()));
  }
  const int result = RUN_ALL_TESTS();
  int64_t failed = 0;
  try {
    failed = world->all_reduce(int64_t{result != 0}, ReduceOp::kSum);
  } catch (const CommError& error) {
    std::fprintf(stderr, "[rank %d] %s\n", world->rank(), error.what());
    return 1;
  }
  if (world->rank() == 0 && failed > 0) {
    std::fprintf(stderr, "%lld of %d ranks had failures\n", static_cast<long long>(failed),
                 world->size());
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace
}  // namespace vlm::cluster

int main(int argc, char** argv) { return vlm::cluster::run(argc, argv); }
