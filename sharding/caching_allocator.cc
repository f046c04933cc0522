#include "sharding/caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

namespace vlm::sharding {
namespace {

// Below this, glibc's bins serve small tensors well and cost no page faults.
constexpr size_t kLargeBlock = size_t{128} << 10;
constexpr size_t kPage = size_t{4} << 10;
// On a miss, idle blocks beyond this (or beyond the resident budget, if larger) that have not
// been reused since the step began are unmapped (oldest first), so a workload whose shapes keep
// changing does not hoard blocks it never reuses. Blocks freed in the current step are never
// unmapped on a miss: the cache of a workload that repeats its shapes must survive its first
// step whole, or every later step misses and unmaps again.
constexpr size_t kIdleMappedCap = size_t{32} << 20;

// Eight size classes per power of two (at most 1/8 larger than asked): tensors whose shapes
// vary a little from step to step (sequence lengths) share blocks instead of each mapping and
// faulting in fresh pages.
size_t round_to_class(size_t bytes) {
  size_t power = kPage;
  while (power * 2 <= bytes) power *= 2;
  const size_t step = std::max(kPage, power / 8);
  return (bytes + step - 1) / step * step;
}

// A cached block serves a request at most 1/8 smaller: more waste would stay resident.
bool fits(size_t block, size_t request) {
  return block >= request && block - request <= request / 8;
}

// Blocks of at least kHugePageBlock start on a huge-page boundary and ask for transparent huge
// pages: a 4 KiB page fault costs about 14 us on this VM (0.28 GB/s of fresh memory), a 2 MiB one
// about as much as zeroing it (17 GB/s). The slack around the aligned start is unmapped, so no
// more is resident than with small pages; a tail that is not a whole huge page stays small.
constexpr size_t kHugePage = size_t{2} << 20;
// Smaller blocks keep small pages: the tiny LLaVA's stage 2 (blocks of 2-8 MiB, freed and
// faulted again within the resident budget) ran 14% slower on huge pages (137.8 against 120.7 ms
// a step), while the real-width blocks (16 MiB to 1 GiB) ran 2.5x faster on them.
constexpr size_t kHugePageBlock = size_t{16} << 20;

void* map_block(size_t size) {
  const size_t span = size >= kHugePageBlock ? size + kHugePage : size;
  void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  if (span == size) return mapped;
  const auto start = reinterpret_cast<uintptr_t>(mapped);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > start) munmap(mapped, aligned - start);
  const uintptr_t end = start + span;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  auto* block = reinterpret_cast<void*>(aligned);
  madvise(block, size, MADV_HUGEPAGE);  // advice only: where THP is off, small pages serve
  return block;
}

class BlockCache {
 public:
  void set_resident_idle_cap(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    resident_idle_cap_ = bytes;
    release_pages_locked();
  }

  void* take(size_t bytes) {
    const size_t size = round_to_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = idle_by_size_.lower_bound(size);
      if (it != idle_by_size_.end() && fits(it->first, size)) {
        void* block = it->second.ptr;
        forget_idle_locked(it);
        live_[block] = it->first;
        idle_by_size_.erase(it);
        ++hits_;
        note_live_locked();
        return block;
      }
      ++misses_;
      unmap_idle_locked(std::max(kIdleMappedCap, resident_idle_cap_), epoch_);
    }
    void* block = map_block(size);
    std::lock_guard<std::mutex> lock(mutex_);
    live_[block] = size;
    mapped_bytes_ += size;
    note_live_locked();
    return block;
  }

  // False when the block is not one of ours (a small block from the default allocator).
  bool give_back(void* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(block);
    if (it == live_.end()) return false;
    const size_t size = it->second;
    live_.erase(it);
    const uint64_t age = next_age_++;
    auto idle = idle_by_size_.emplace(size, IdleBlock{block, age, epoch_});
    idle_by_age_.emplace(age, idle);
    resident_by_age_.emplace(age, idle);
    idle_bytes_ += size;
    resident_idle_bytes_ += size;
    release_pages_locked();
    return true;
  }

  void unmap_idle(size_t keep) {
    std::lock_guard<std::mutex> lock(mutex_);
    unmap_idle_locked(keep, UINT64_MAX);
  }

  // A block idle through a whole step is not part of the step's working set any more: such
  // blocks are unmapped beyond the resident budget (within it they serve later steps' shapes).
  void begin_epoch() {
    std::lock_guard<std::mutex> lock(mutex_);
    unmap_idle_locked(resident_idle_cap_, epoch_);
    ++epoch_;
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    const CpuCacheStats stats{static_cast<int64_t>(mapped_bytes_),
                              static_cast<int64_t>(idle_bytes_),
                              static_cast<int64_t>(peak_live_bytes_), hits_, misses_};
    peak_live_bytes_ = mapped_bytes_ - idle_bytes_;
    return stats;
  }

 private:
  struct IdleBlock {
    void* ptr;
    uint64_t age;    // order of freeing
    uint64_t epoch;  // the step it was freed in
  };
  using BySize = std::multimap<size_t, IdleBlock>;

  void forget_idle_locked(BySize::iterator idle) {
    idle_bytes_ -= idle->first;
    idle_by_age_.erase(idle->second.age);
    if (resident_by_age_.erase(idle->second.age) > 0) resident_idle_bytes_ -= idle->first;
  }

  // Idle blocks past the resident budget give their pages back, the longest idle first (a step
  // soonest reuses what it freed last); the mapping stays, and its next user faults the pages in
  // again. The budget trades page faults for resident memory.
  void release_pages_locked() {
    while (resident_idle_bytes_ > resident_idle_cap_ && !resident_by_age_.empty()) {
      auto oldest = resident_by_age_.begin();
      madvise(oldest->second->second.ptr, oldest->second->first, MADV_DONTNEED);
      resident_idle_bytes_ -= oldest->second->first;
      resident_by_age_.erase(oldest);
    }
  }

  // Unmaps idle blocks freed before `before_epoch`, oldest first, down to `keep` idle bytes.
  void unmap_idle_locked(size_t keep, uint64_t before_epoch) {
    while (idle_bytes_ > keep && !idle_by_age_.empty()) {
      const BySize::iterator idle = idle_by_age_.begin()->second;
      if (idle->second.epoch >= before_epoch) break;
      munmap(idle->second.ptr, idle->first);
      mapped_bytes_ -= idle->first;
      forget_idle_locked(idle);
      idle_by_size_.erase(idle);
    }
  }

  void note_live_locked() {
    peak_live_bytes_ = std::max(peak_live_bytes_, mapped_bytes_ - idle_bytes_);
  }

  std::mutex mutex_;
  std::unordered_map<void*, size_t> live_;
  BySize idle_by_size_;
  std::map<uint64_t, BySize::iterator> idle_by_age_;
  std::map<uint64_t, BySize::iterator> resident_by_age_;  // idle blocks whose pages are kept
  uint64_t next_age_ = 0;
  uint64_t epoch_ = 0;
  size_t idle_bytes_ = 0;
  size_t resident_idle_bytes_ = 0;
  size_t resident_idle_cap_ = SIZE_MAX;
  size_t mapped_bytes_ = 0;
  size_t peak_live_bytes_ = 0;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

BlockCache& cache() {
  static BlockCache* instance = new BlockCache;  // never destroyed: tensors may outlive main
  return *instance;
}

void release(void* block) {
  if (block != nullptr && !cache().give_back(block)) c10::free_cpu(block);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) const override {
    void* block = bytes >= kLargeBlock ? cache().take(bytes) : c10::alloc_cpu(bytes);
    return {block, block, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

}  // namespace

void install_caching_cpu_allocator(size_t resident_idle_bytes) {
  cache().set_resident_idle_cap(resident_idle_bytes);
  static std::once_flag installed;
  std::call_once(installed, [] {
    static CachingCpuAllocator allocator;
    // Priority above the default allocator's registration (0), so LibTorch cannot replace it.
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
  });
}

void install_caching_cpu_allocator(const recipes::ShardingSection& sharding) {
  install_caching_cpu_allocator(static_cast<size_t>(sharding.host_cache_mib * 1024.0 * 1024.0));
}

void release_idle_cpu_blocks() { cache().unmap_idle(0); }

void begin_cpu_cache_step() { cache().begin_epoch(); }

CpuCacheStats cpu_cache_stats() { return cache().stats(); }

}  // namespace vlm::sharding
