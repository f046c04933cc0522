// bf16 gradients summed in fp32 inside a reduce-scatter: each bf16 element widened exactly to
// the float it stands for, so the sum equals the one over contributions widened beforehand.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bf16.h"

namespace vlm::cluster {

// out[i] = in[i] (add false) or out[i] += in[i] (add true), in widened to float.
inline void widen_bf16_into(float* __restrict out, const void* in, size_t count, bool add) {
  const auto* from = static_cast<const uint16_t*>(in);
  if (add) {
    for (size_t i = 0; i < count; ++i) out[i] += bf16::to_float(from[i]);
  } else {
    for (size_t i = 0; i < count; ++i) out[i] = bf16::to_float(from[i]);
  }
}

}  // namespace vlm::cluster
