// Where the hand-written CPU kernels (attention's per-head BLAS calls, the fused RMSNorm and RoPE)
// apply: float or double tensors on the CPU. Other dtypes and devices take ATen's composite path.
#pragma once

#include <ATen/ATen.h>

namespace vlm::models {

inline bool cpu_kernel_applies(const at::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

}  // namespace vlm::models
