// The caching CPU allocator: reuse, the resident budget, and tensors' values through it.
#include "sharding/caching_allocator.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

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

// Idle blocks beyond the budget give their pages back: the resident size drops though the
// blocks stay mapped (and are reused without a new mapping).
TEST(CachingCpuAllocator, IdleBlocksBeyondTheBudgetLeaveResidentMemory) {
  install_caching_cpu_allocator(size_t{8} << 20);
  release_idle_cpu_blocks();
  std::vector<at::Tensor> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(mib_tensor(8).fill_(1.0f));
  const int64_t resident_full = process_memory::resident_bytes();
  blocks.clear();
  const int64_t resident_idle = process_memory::resident_bytes();
  // 64 MiB freed, 8 kept resident: at least 48 MiB must have left.
  EXPECT_GT(resident_full - resident_idle, 48 * kMiB);
  const CpuCacheStats idle = cpu_cache_stats();
  EXPECT_GE(idle.idle_bytes, 64 * kMiB);
  const at::Tensor reused = mib_tensor(8).fill_(2.0f);
  EXPECT_EQ(cpu_cache_stats().misses, idle.misses);
  EXPECT_EQ(reused.sum().item<double>(), 2.0 * 2 * kMiB);
  install_caching_cpu_allocator(size_t{1} << 30);
}

TEST(CachingCpuAllocator, BlocksIdleThroughAWholeStepAreUnmappedBeyondTheBudget) {
  install_caching_cpu_allocator(size_t{8} << 20);
  release_idle_cpu_blocks();
  begin_cpu_cache_step();
  { at::Tensor t = mib_tensor(16); }
  const int64_t mapped = cpu_cache_stats().mapped_bytes;
  EXPECT_GE(mapped, 16 * kMiB);
  begin_cpu_cache_step();  // freed in the step before: kept for this one
  EXPECT_EQ(cpu_cache_stats().mapped_bytes, mapped);
  begin_cpu_cache_step();  // idle through a whole step, over the 8 MiB budget: gone
  EXPECT_EQ(cpu_cache_stats().mapped_bytes, mapped - 16 * kMiB);
  install_caching_cpu_allocator(size_t{1} << 30);
}

// Within the budget a block outlives steps that do not use it: variable sequence lengths bring
// a shape back a few steps later, and a new mapping would fault in every page again.
TEST(CachingCpuAllocator, ABlockWithinTheBudgetServesALaterStep) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  { at::Tensor t = mib_tensor(16); }
  for (int step = 0; step < 3; ++step) begin_cpu_cache_step();
  const CpuCacheStats before = cpu_cache_stats();
  const at::Tensor again = mib_tensor(16);
  EXPECT_EQ(cpu_cache_stats().misses, before.misses);
}

// Requests a little apart in size share a size class (at most 1/8 larger than asked).
TEST(CachingCpuAllocator, NearbySizesShareABlock) {
  install_caching_cpu_allocator(size_t{1} << 30);
  release_idle_cpu_blocks();
  void* first = nullptr;
  {
    const at::Tensor t = at::empty({(10 * kMiB + 1024) / 4}, at::kFloat);
    first = t.data_ptr();
  }
  const CpuCacheStats before = cpu_cache_stats();
  const at::Tensor larger = at::empty({(10 * kMiB + 300 * 1024) / 4}, at::kFloat);
  EXPECT_EQ(larger.data_ptr(), first);
  EXPECT_EQ(cpu_cache_stats().misses, before.misses);
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
  EXPECT_EQ(reinterpret_cast<uintptr_t>(block.data_ptr()) % (2 * kMiB), 0u);
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
