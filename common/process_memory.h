// This process's resident memory, from /proc/self (Linux): what the memory plan is checked
// against and what benchmarks report.
#pragma once

#include <cstdint>

namespace vlm::process_memory {

int64_t resident_bytes();       // VmRSS
int64_t peak_resident_bytes();  // VmHWM: the peak since start or the last reset
// Restarts the peak from the current resident size (writes 5 to /proc/self/clear_refs), so a
// measurement can leave out set-up transients. Returns false where the kernel does not allow it.
bool reset_peak();
// Gives freed heap memory back to the kernel and makes large allocations come from mmap (so
// freeing them lowers the resident size at once): resident sizes then track live memory.
void track_live_memory();

}  // namespace vlm::process_memory
