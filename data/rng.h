// A small random generator whose streams are fixed by their seed on every platform (the standard
// distributions are implementation-defined, so they cannot promise byte-identical corpora).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/mix64.h"

namespace vlm::data {

using ::vlm::mix64;

// A seed for one stream (e.g. "epoch 3 of the sampler"), a pure function of its parts.
inline uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  return mix64(mix64(mix64(seed) ^ a) ^ b);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // splitmix64: the finalizer of the state before each step of the golden-ratio increment.
  uint64_t next() {
    const uint64_t value = mix64(state_);
    state_ += 0x9e3779b97f4a7c15ULL;
    return value;
  }
  // Uniform in [0, n) by multiply-shift (bias below 2^-40 for the sizes used here).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform in [lo, hi], both included.
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  uint64_t state_;
};

}  // namespace vlm::data
