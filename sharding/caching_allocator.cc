#include "sharding/caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <unordered_map>
#include <utility>

namespace vlm::sharding {
namespace {

// Below this, glibc's bins serve small tensors well and cost no page faults.
constexpr size_t kLargeBlock = size_t{128} << 10;
constexpr size_t kPage = size_t{4} << 10;
constexpr size_t kHugePage = size_t{2} << 20;
// Address space reserved at a time. Only touched pages are resident, so a region costs nothing
// until used; a request larger than this gets a region of its own size.
constexpr size_t kRegion = size_t{1} << 30;

// Eight size classes per power of two (at most 1/8 larger than asked): tensors whose shapes
// vary a little from step to step (sequence lengths) fit exactly where an earlier one was.
size_t round_to_class(size_t bytes) {
  size_t power = kPage;
  while (power * 2 <= bytes) power *= 2;
  const size_t step = std::max(kPage, power / 8);
  return (bytes + step - 1) / step * step;
}

size_t round_up(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }

// A region starts on a huge-page boundary, and one for large blocks asks for transparent huge
// pages: a 4 KiB page fault costs about 14 us on this VM, a 2 MiB one about as much as zeroing
// it. The slack around the aligned start is unmapped. MAP_NORESERVE: reserved address space is
// not committed memory.
uintptr_t map_region(size_t size, bool huge_pages) {
  const size_t span = size + kHugePage;
  void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(mapped);
  const uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) munmap(mapped, aligned - start);
  if (start + span > aligned + size) {
    munmap(reinterpret_cast<void*>(aligned + size), start + span - aligned - size);
  }
  if (huge_pages) madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice only
  return aligned;
}

// Address ranges kept as start -> length, adjacent ones merged.
class RangeSet {
 public:
  // Removes [start, start + length); returns how many of those bytes were in the set.
  size_t remove(uintptr_t start, size_t length) {
    const uintptr_t end = start + length;
    size_t removed = 0;
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin()) --it;
    while (it != ranges_.end() && it->first < end) {
      const uintptr_t first = it->first;
      const uintptr_t last = first + it->second;
      if (last <= start) {
        ++it;
        continue;
      }
      it = ranges_.erase(it);
      if (first < start) ranges_.emplace(first, start - first);
      if (last > end) ranges_.emplace(end, last - end);
      removed += std::min(last, end) - std::max(first, start);
    }
    return removed;
  }

  // Adds [start, start + length); returns how many of those bytes were not in the set before.
  size_t add(uintptr_t start, size_t length) {
    const size_t before = remove(start, length);
    uintptr_t first = start;
    size_t merged = length;
    auto next = ranges_.lower_bound(start);
    if (next != ranges_.end() && next->first == start + length) {
      merged += next->second;
      next = ranges_.erase(next);
    }
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == start) {
        first = prev->first;
        merged += prev->second;
        ranges_.erase(prev);
      }
    }
    ranges_.emplace(first, merged);
    return length - before;
  }

 private:
  std::map<uintptr_t, size_t> ranges_;
};

// Best-fit over a few large mapped regions, freed ranges merged with their free neighbours: the
// resident size follows the live peak plus little fragmentation, where one cached block per size
// kept every size's own peak (a stage-3 step with recomputation: 287 MiB held for 210 live; a
// best-fit arena over the same requests, 219). Pages never touched or given back are tracked as
// released; a request that lands on any of them faults pages in and counts as a miss. Not
// thread-safe: BlockCache locks.
class Arena {
 public:
  // huge_pages: regions ask for transparent huge pages, and every request must be a multiple of
  // 2 MiB, so no block shares a huge page with another and faulting one in brings no neighbour's
  // memory with it.
  explicit Arena(bool huge_pages) : huge_pages_(huge_pages) {}

  void* take(size_t size) {
    auto fit = free_by_size_.lower_bound({size, 0});
    if (fit == free_by_size_.end()) {
      add_region(std::max(kRegion, round_up(size, kHugePage)));
      fit = free_by_size_.lower_bound({size, 0});
    }
    const auto [free_size, start] = *fit;
    free_by_size_.erase(fit);
    free_by_start_.erase(start);
    if (free_size > size) insert_free(start + size, free_size - size);
    live_[start] = size;
    live_bytes_ += size;
    const size_t faulted = released_.remove(start, size);
    released_bytes_ -= faulted;
    ++(faulted > 0 ? misses_ : hits_);
    return reinterpret_cast<void*>(start);
  }

  bool give_back(void* block) {
    const auto it = live_.find(reinterpret_cast<uintptr_t>(block));
    if (it == live_.end()) return false;
    const auto [start, size] = *it;
    live_.erase(it);
    live_bytes_ -= size;
    free_range(start, size);
    return true;
  }

  // Gives idle pages back, the largest free ranges first, until at most `keep` idle bytes are
  // resident; their address space stays, and the next request there faults them in again.
  void release_idle(size_t keep) {
    for (auto free = free_by_size_.rbegin(); free != free_by_size_.rend(); ++free) {
      if (idle_bytes() <= keep) return;
      release_pages(free->second, free->first);
    }
  }

  // Gives every idle page back and unmaps regions with nothing live in them.
  void release_all() {
    release_idle(0);
    for (auto region = regions_.begin(); region != regions_.end();) {
      const auto free = free_by_start_.find(region->first);
      if (free == free_by_start_.end() || free->second != region->second) {
        ++region;
        continue;
      }
      released_.remove(region->first, region->second);
      released_bytes_ -= region->second;
      reserved_bytes_ -= region->second;
      erase_free(free);
      munmap(reinterpret_cast<void*>(region->first), region->second);
      region = regions_.erase(region);
    }
  }

  size_t resident_bytes() const { return reserved_bytes_ - released_bytes_; }
  size_t live_bytes() const { return live_bytes_; }
  size_t idle_bytes() const { return resident_bytes() - live_bytes_; }
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  void add_region(size_t size) {
    const uintptr_t start = map_region(size, huge_pages_);
    regions_.emplace(start, size);
    reserved_bytes_ += size;
    released_bytes_ += released_.add(start, size);
    insert_free(start, size);
  }

  void insert_free(uintptr_t start, size_t size) {
    free_by_start_.emplace(start, size);
    free_by_size_.emplace(size, start);
  }

  void erase_free(std::map<uintptr_t, size_t>::iterator free) {
    free_by_size_.erase({free->second, free->first});
    free_by_start_.erase(free);
  }

  // Merges the freed range with free neighbours in the same region (regions may be adjacent in
  // the address space; a range never spans two).
  void free_range(uintptr_t start, size_t size) {
    auto next = free_by_start_.find(start + size);
    if (next != free_by_start_.end() && regions_.count(next->first) == 0) {
      size += next->second;
      erase_free(next);
    }
    if (regions_.count(start) == 0) {
      auto prev = free_by_start_.lower_bound(start);
      if (prev != free_by_start_.begin()) {
        --prev;
        if (prev->first + prev->second == start) {
          start = prev->first;
          size += prev->second;
          erase_free(prev);
        }
      }
    }
    insert_free(start, size);
  }

  void release_pages(uintptr_t start, size_t size) {
    const size_t newly = released_.add(start, size);
    if (newly == 0) return;
    madvise(reinterpret_cast<void*>(start), size, MADV_DONTNEED);
    released_bytes_ += newly;
  }

  bool huge_pages_;
  std::map<uintptr_t, size_t> regions_;                  // start -> size
  std::map<uintptr_t, size_t> free_by_start_;            // start -> size
  std::set<std::pair<size_t, uintptr_t>> free_by_size_;  // (size, start): best fit, lowest first
  std::unordered_map<uintptr_t, size_t> live_;           // start -> size
  RangeSet released_;  // pages not resident: never touched, or given back
  size_t reserved_bytes_ = 0;
  size_t released_bytes_ = 0;
  size_t live_bytes_ = 0;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

// Blocks of at least kHugePageBlock come from an arena on transparent huge pages (their sizes
// are whole 2 MiB multiples by their size class, so no two share a huge page), smaller ones
// from one on small pages. Huge pages pay where big blocks are given back and faulted in again
// every step: the real-width run's (up to 1 GiB, under a 64 MiB budget) ran 2.5x faster on
// them. Below 64 MiB they cost memory instead: with 16-64 MiB blocks on them, the 50M model's
// peak under e2e_test_memory_plan rose from 1.03-1.05x its plan to 1.10-1.14x.
constexpr size_t kHugePageBlock = size_t{64} << 20;
static_assert(kHugePageBlock % (kHugePage * 8) == 0, "classes above it are 2 MiB multiples");

class BlockCache {
 public:
  void set_resident_idle_cap(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    resident_idle_cap_ = bytes;
    release_beyond_cap_locked();
  }

  void* take(size_t bytes) {
    const size_t size = round_to_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* block = (size >= kHugePageBlock ? huge_ : small_).take(size);
    peak_live_bytes_ = std::max(peak_live_bytes_, small_.live_bytes() + huge_.live_bytes());
    return block;
  }

  // False when the block is not one of ours (a small block from the default allocator).
  bool give_back(void* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!small_.give_back(block) && !huge_.give_back(block)) return false;
    release_beyond_cap_locked();
    return true;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    small_.release_all();
    huge_.release_all();
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t live = small_.live_bytes() + huge_.live_bytes();
    const CpuCacheStats stats{
        static_cast<int64_t>(small_.resident_bytes() + huge_.resident_bytes()),
        static_cast<int64_t>(small_.idle_bytes() + huge_.idle_bytes()),
        static_cast<int64_t>(peak_live_bytes_), small_.hits() + huge_.hits(),
        small_.misses() + huge_.misses()};
    peak_live_bytes_ = live;
    return stats;
  }

 private:
  // Huge pages first: faulting them in again costs least.
  void release_beyond_cap_locked() {
    const size_t small_idle = small_.idle_bytes();
    if (small_idle + huge_.idle_bytes() <= resident_idle_cap_) return;
    huge_.release_idle(resident_idle_cap_ > small_idle ? resident_idle_cap_ - small_idle : 0);
    small_.release_idle(resident_idle_cap_ - std::min(resident_idle_cap_, huge_.idle_bytes()));
  }

  std::mutex mutex_;
  Arena small_{/*huge_pages=*/false};
  Arena huge_{/*huge_pages=*/true};
  size_t resident_idle_cap_ = SIZE_MAX;
  size_t peak_live_bytes_ = 0;
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

void release_idle_cpu_blocks() { cache().release_all(); }

CpuCacheStats cpu_cache_stats() { return cache().stats(); }

}  // namespace vlm::sharding
