// Where the hand-written CPU kernels apply: attention's per-head BLAS calls take float or double
// tensors on the CPU; the fused row kernels (RMSNorm, RoPE, SwiGLU) take bfloat16 as well,
// computed in float. Other dtypes and devices take ATen's composite path.
#pragma once

#include <ATen/ATen.h>

#include "models/row_kernels.h"

namespace vlm::models {

inline bool cpu_kernel_applies(const at::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

inline bool row_kernel_applies(const at::Tensor& x) {
  return cpu_kernel_applies(x) || (x.device().is_cpu() && x.scalar_type() == at::kBFloat16);
}

// The row kernels' element type for ATen's scalar_t, and a tensor's elements as it.
template <typename T>
struct RowElement {
  using type = T;
};
template <>
struct RowElement<c10::BFloat16> {
  using type = kernels::Bf16;
};
template <typename T>
using RowElementOf = typename RowElement<T>::type;

template <typename T>
RowElementOf<T>* row_data(const at::Tensor& t) {
  static_assert(sizeof(RowElementOf<T>) == sizeof(T) && alignof(RowElementOf<T>) <= alignof(T));
  return reinterpret_cast<RowElementOf<T>*>(t.data_ptr<T>());
}

// The dtype a row kernel computes (and keeps per-row statistics) in for elements of `dtype`.
inline at::ScalarType row_compute_dtype(at::ScalarType dtype) {
  return dtype == at::kBFloat16 ? at::kFloat : dtype;
}

#define VLM_DISPATCH_ROW_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, TYPE, NAME, __VA_ARGS__)

}  // namespace vlm::models
