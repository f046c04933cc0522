// bf16 gradients summed in fp32 inside a reduce-scatter: each bf16 element widened exactly to
// the float it stands for, so the sum equals the one over contributions widened beforehand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vlm::cluster {

inline float widen_bf16(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// out[i] = in[i] (add false) or out[i] += in[i] (add true), in widened to float.
inline void widen_bf16_into(float* __restrict out, const void* in, size_t count, bool add) {
  const auto* from = static_cast<const uint16_t*>(in);
  if (add) {
    for (size_t i = 0; i < count; ++i) out[i] += widen_bf16(from[i]);
  } else {
    for (size_t i = 0; i < count; ++i) out[i] = widen_bf16(from[i]);
  }
}

}  // namespace vlm::cluster
