// The caching CPU allocator: reuse across sizes, the resident budget, and tensors' values through
// it.
#include "sharding/caching_allocator.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "common/process_memory.h"

namespace vlm::sharding {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

at::Tensor mib_tensor(int64_t mib) { return at::empty({mib * kMiB / 4}, at::kFloat); }

TEST(CachingCpuAllocator, ReusesAFreedBlockOfTheSameSize) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  const CpuCacheStats before = cpu_cache_stats();
  void* first = nullptr;
  {
    at::Tensor t = mib_tensor(4);
    first = t.data_ptr();
  }
  at::Tensor again = mib_tensor(4);
  const CpuCacheStats after = cpu_cache_stats();
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(after.misses - before.misses, 1);
  EXPECT_EQ(after.hits - before.hits, 1);
}

TEST(CachingCpuAllocator, SmallTensorsAndValuesAreUnaffected) {
  install_caching_cpu_allocator(size_t{1} << 30);
  const at::Tensor a = at::arange(1000, at::kFloat);
  const at::Tensor big = at::arange(3 * kMiB, at::kFloat);
  EXPECT_EQ(a.sum().item<double>(), 999.0 * 1000.0 / 2.0);
  EXPECT_EQ(big[3 * kMiB - 1].item<float>(), static_cast<float>(3 * kMiB - 1));
}

// Idle pages beyond the budget go back to the kernel: the resident size drops, and the address
// space is reused (faulting pages in again).
TEST(CachingCpuAllocator, IdlePagesBeyondTheBudgetLeaveResidentMemory) {
  install_caching_cpu_allocator(size_t{8} << 20);
  release_idle_cpu_blocks();
  std::vector<at::Tensor> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(mib_tensor(8).fill_(1.0f));
  const int64_t resident_full = process_memory::resident_bytes();
  blocks.clear();
  const int64_t resident_idle = process_memory::resident_bytes();
  // 64 MiB freed, 8 kept resident: at least 48 MiB must have left.
  EXPECT_GT(resident_full - resident_idle, 48 * kMiB);
  EXPECT_LE(cpu_cache_stats().idle_bytes, 8 * kMiB);
  const at::Tensor reused = mib_tensor(8).fill_(2.0f);
  EXPECT_EQ(reused.sum().item<double>(), 2.0 * 2 * kMiB);
  install_caching_cpu_allocator(size_t{1} << 30);
}

TEST(CachingCpuAllocator, ReleasingIdleBlocksReturnsTheirPages) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  { at::Tensor t = mib_tensor(16).fill_(1.0f); }
  const CpuCacheStats idle = cpu_cache_stats();
  EXPECT_GE(idle.idle_bytes, 16 * kMiB);
  release_idle_cpu_blocks();
  const CpuCacheStats released = cpu_cache_stats();
  EXPECT_EQ(released.idle_bytes, 0);
  EXPECT_LE(released.mapped_bytes, idle.mapped_bytes - 16 * kMiB);
}

// Within the budget idle pages stay resident for later steps: variable sequence lengths bring a
// shape back a few steps later, and fresh pages would fault in again.
TEST(CachingCpuAllocator, IdlePagesWithinTheBudgetServeALaterRequest) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  { at::Tensor t = mib_tensor(16); }
  const CpuCacheStats before = cpu_cache_stats();
  const at::Tensor again = mib_tensor(16);
  EXPECT_EQ(cpu_cache_stats().misses, before.misses);
}

// Freed neighbours merge and large free ranges split: memory freed by one size serves another
// without new pages, so the resident size follows the live peak, not each size's own peak.
TEST(CachingCpuAllocator, FreedMemoryServesOtherSizes) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  {
    at::Tensor a = mib_tensor(4);
    at::Tensor b = mib_tensor(4);
  }
  const CpuCacheStats two_halves = cpu_cache_stats();
  { at::Tensor whole = mib_tensor(8); }
  EXPECT_EQ(cpu_cache_stats().misses, two_halves.misses);
  at::Tensor c = mib_tensor(2);
  at::Tensor d = mib_tensor(6);
  EXPECT_EQ(cpu_cache_stats().misses, two_halves.misses);
  EXPECT_EQ(cpu_cache_stats().mapped_bytes, two_halves.mapped_bytes);
}

// Random sizes allocated and freed in random order: no two live tensors share a byte (each keeps
// the value it was filled with), and every idle page can be given back.
TEST(CachingCpuAllocator, RandomRequestsNeverOverlap) {
  install_caching_cpu_allocator(size_t{64} << 20);
  release_idle_cpu_blocks();
  std::vector<std::pair<at::Tensor, float>> live;
  uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int op = 0; op < 400; ++op) {
    if (!live.empty() && next() % 3 == 0) {
      const size_t victim = next() % live.size();
      const auto& [tensor, value] = live[victim];
      ASSERT_EQ(tensor.min().item<float>(), value);
      ASSERT_EQ(tensor.max().item<float>(), value);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    } else {
      const int64_t elements = 32 * 1024 + static_cast<int64_t>(next() % (1024 * 1024));
      const auto value = static_cast<float>(op);
      live.emplace_back(at::full({elements}, value, at::kFloat), value);
    }
  }
  for (const auto& [tensor, value] : live) {
    ASSERT_EQ(tensor.min().item<float>(), value);
    ASSERT_EQ(tensor.max().item<float>(), value);
  }
  live.clear();
  release_idle_cpu_blocks();
  EXPECT_EQ(cpu_cache_stats().idle_bytes, 0);
  install_caching_cpu_allocator(size_t{1} << 30);
}

// Where the kernel offers transparent huge pages on request ("madvise" or "always"), a large
// block is served by them: one fault per 2 MiB instead of 512.
int64_t anon_huge_bytes() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string key;
  int64_t kib = 0;
  while (rollup >> key) {
    if (key == "AnonHugePages:" && rollup >> kib) return kib * 1024;
  }
  return -1;
}

bool huge_pages_on_request() {
  std::ifstream setting("/sys/kernel/mm/transparent_hugepage/enabled");
  std::stringstream text;
  text << setting.rdbuf();
  return text.str().find("[never]") == std::string::npos && !text.str().empty();
}

TEST(CachingCpuAllocator, LargeBlocksUseHugePages) {
  if (!huge_pages_on_request() || anon_huge_bytes() < 0) {
    GTEST_SKIP() << "transparent huge pages are off here";
  }
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  const int64_t before = anon_huge_bytes();
  const at::Tensor block = mib_tensor(64).fill_(1.0f);
  // Huge pages need free contiguous memory; most of the block must get them.
  EXPECT_GE(anon_huge_bytes() - before, 32 * kMiB);
  EXPECT_EQ(block.sum().item<double>(), 16.0 * kMiB);
}

TEST(CachingCpuAllocator, RecordsThePeakOfLiveBlocks) {
  install_caching_cpu_allocator(size_t{1} << 30);
  cpu_cache_stats();  // restart the peak
  {
    at::Tensor a = mib_tensor(4);
    at::Tensor b = mib_tensor(4);
  }
  EXPECT_GE(cpu_cache_stats().peak_live_bytes, 8 * kMiB);
}

}  // namespace
}  // namespace vlm::sharding
