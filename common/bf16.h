// bfloat16 as bits: the high half of an IEEE float (the layout of c10::BFloat16), for code that
// handles bf16 buffers without LibTorch (the communicator's reductions, the fused row kernels).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vlm::bf16 {

// Exact: every bf16 value is a float.
inline float to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// Round to nearest even, NaN to a quiet NaN: c10::BFloat16's rounding, so code without LibTorch
// stores what ATen's own conversion would.
inline uint16_t from_float(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return std::isnan(value) ? uint16_t{0x7FC0}
                           : static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace vlm::bf16
