// The arithmetic of the fused RMSNorm, RoPE and SwiGLU nodes (layers.cc, rope.cc) on raw rows of
// float, double or bfloat16, without LibTorch: compiled at -O3 on its own (models/CMakeLists.txt),
// since -O2's vectoriser leaves loops of a run-time length scalar. Sums are kept in double;
// bfloat16 elements are widened to float, computed on, and rounded once when stored.
#pragma once

#include <cstdint>

namespace vlm::models::kernels {

// bfloat16 as stored: the high half of a float, the layout of c10::BFloat16.
struct Bf16 {
  uint16_t bits;
};

// The type a kernel computes in for elements stored as T.
template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Bf16> {
  using type = float;
};
template <typename T>
using Compute = typename ComputeOf<T>::type;

// y = w * x * r per row of `dim`, r = (mean(x^2) + eps)^-1/2, written to inverse_rms[row].
template <typename T>
void rms_norm_forward(const T* x, const T* weight, int64_t rows, int64_t dim, double eps, T* y,
                      Compute<T>* inverse_rms);

// dx = r (g w) - x r^3 mean((g w) x); dw = sum over rows of g x r. A null dx or dw is skipped.
template <typename T>
void rms_norm_backward(const T* x, const T* weight, const Compute<T>* inverse_rms, const T* grad,
                       int64_t rows, int64_t dim, T* dx, T* dw);

// rotate_half's rotation of x [B, T, heads, dim] by the angles of each position (cos and
// signed_sin rows of dim, the sine's first half negated): out[i] = x[i] cos[i] + x[partner(i)]
// signed_sin[i], partner(i) = i +- dim/2. With `transpose`, its adjoint (the gradient):
// out[i] = x[i] cos[i] + x[partner(i)] signed_sin[partner(i)].
struct RotaryLayout {
  int64_t batch, seq, heads, dim;
  bool angles_per_batch_row;  // angle tables [B, T, dim] (position ids) rather than [T, dim]
};

// SwiGLU's product silu(gate) * up over n elements, given sigmoid(gate) (ATen's vectorised exp
// computes it); and its gradient: d_up = g silu(gate), d_gate = g up s (1 + gate (1 - s)).
template <typename T>
void swiglu_forward(const T* gate, const T* up, const T* sigmoid, int64_t n, T* out);
template <typename T>
void swiglu_backward(const T* gate, const T* up, const T* sigmoid, const T* grad, int64_t n,
                     T* d_gate, T* d_up);

template <typename T>
void rotate(const T* x, const T* cos, const T* signed_sin, const RotaryLayout& layout,
            bool transpose, T* out);

}  // namespace vlm::models::kernels
