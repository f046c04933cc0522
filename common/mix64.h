// splitmix64's finalizer: a good 64-bit mixing function, for streams that must be a pure function
// of their seed (the synthetic corpus, the samplers, LoRA's dropout masks).
#pragma once

#include <cstdint>

namespace vlm {

inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace vlm
