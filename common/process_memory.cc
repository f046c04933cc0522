#include "common/process_memory.h"

#include <malloc.h>

#include <fstream>
#include <sstream>
#include <string>

namespace vlm::process_memory {
namespace {

// A "Key:   1234 kB" line of /proc/self/status, in bytes; 0 when absent.
int64_t status_field(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

}  // namespace

int64_t resident_bytes() { return status_field("VmRSS"); }
int64_t peak_resident_bytes() { return status_field("VmHWM"); }

bool reset_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

void track_live_memory() {
  // glibc raises its mmap threshold after large frees (up to 32 MiB), after which freed
  // parameter buffers stay in the heap; a fixed threshold keeps them on mmap.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  malloc_trim(0);
}

}  // namespace vlm::process_memory
