#include "models/row_kernels.h"

#include <cmath>
#include <vector>

#include "common/bf16.h"
#include "common/vector_clones.h"

// Each kernel is also built for AVX2 (common/vector_clones.h).

namespace vlm::models::kernels {
namespace {

inline float widen(Bf16 v) { return bf16::to_float(v.bits); }
inline float widen(float v) { return v; }
inline double widen(double v) { return v; }

// Rounded as ATen's own conversion rounds.
inline void store(float v, Bf16* out) { out->bits = bf16::from_float(v); }
inline void store(float v, float* out) { *out = v; }
inline void store(double v, double* out) { *out = v; }

// sum a[j] * b[j] * c[j] (c null: a[j] * b[j]) in double over eight lanes, which the vectoriser
// turns into vector registers where one accumulator would be a serial chain.
template <typename T>
double dot(const T* a, const T* b, const T* c, int64_t n) {
  constexpr int64_t kLanes = 8;
  double lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const double product = static_cast<double>(widen(a[j + l])) * widen(b[j + l]);
      lanes[l] += c ? product * widen(c[j + l]) : product;
    }
  }
  double sum = 0;
  for (; j < n; ++j) {
    const double product = static_cast<double>(widen(a[j])) * widen(b[j]);
    sum += c ? product * widen(c[j]) : product;
  }
  for (const double lane : lanes) sum += lane;
  return sum;
}

}  // namespace

template <typename T>
VLM_VECTOR_CLONES void rms_norm_forward(const T* x, const T* weight, int64_t rows, int64_t dim,
                                        double eps, T* y, Compute<T>* inverse_rms) {
  using C = Compute<T>;
  for (int64_t row = 0; row < rows; ++row) {
    const T* xr = x + row * dim;
    const auto inv = static_cast<C>(1.0 / std::sqrt(dot<T>(xr, xr, nullptr, dim) / dim + eps));
    inverse_rms[row] = inv;
    T* yr = y + row * dim;
    for (int64_t j = 0; j < dim; ++j) store(widen(weight[j]) * (widen(xr[j]) * inv), yr + j);
  }
}

template <typename T>
VLM_VECTOR_CLONES void rms_norm_backward(const T* x, const T* weight, const Compute<T>* inverse_rms,
                                         const T* grad, int64_t rows, int64_t dim, T* dx, T* dw) {
  using C = Compute<T>;
  std::vector<double> weight_sums(dw ? dim : 0, 0.0);
  for (int64_t row = 0; row < rows; ++row) {
    const T *xr = x + row * dim, *gr = grad + row * dim;
    const C inv = inverse_rms[row];
    if (dw) {
      for (int64_t j = 0; j < dim; ++j)
        weight_sums[j] += static_cast<double>(widen(gr[j])) * (widen(xr[j]) * inv);
    }
    if (!dx) continue;
    const auto shift = static_cast<C>(dot<T>(gr, weight, xr, dim) / dim * inv * inv * inv);
    T* dxr = dx + row * dim;
    for (int64_t j = 0; j < dim; ++j)
      store(inv * (widen(gr[j]) * widen(weight[j])) - widen(xr[j]) * shift, dxr + j);
  }
  for (int64_t j = 0; dw && j < dim; ++j) store(static_cast<C>(weight_sums[j]), dw + j);
}

template <typename T>
VLM_VECTOR_CLONES void rotate(const T* x, const T* cos, const T* signed_sin,
                              const RotaryLayout& layout, bool transpose, T* out) {
  const int64_t dim = layout.dim, half = dim / 2;
  for (int64_t p = 0; p < layout.batch * layout.seq; ++p) {
    const int64_t angle_row = layout.angles_per_batch_row ? p : p % layout.seq;
    const T *c = cos + angle_row * dim, *s = signed_sin + angle_row * dim;
    // The sine each half is multiplied by: its own (forward) or its partner's (adjoint).
    const T *s_first = transpose ? s + half : s, *s_second = transpose ? s : s + half;
    for (int64_t h = 0; h < layout.heads; ++h) {
      // Each half in a loop of its own, over pointers that do not alias (the node writes a fresh
      // tensor): that is what lets the compiler vectorize them.
      const T* __restrict x_first = x + (p * layout.heads + h) * dim;
      const T* __restrict x_second = x_first + half;
      T* __restrict y_first = out + (p * layout.heads + h) * dim;
      T* __restrict y_second = y_first + half;
      for (int64_t j = 0; j < half; ++j) {
        store(widen(x_first[j]) * widen(c[j]) + widen(x_second[j]) * widen(s_first[j]),
              y_first + j);
      }
      for (int64_t j = 0; j < half; ++j) {
        store(widen(x_second[j]) * widen(c[half + j]) + widen(x_first[j]) * widen(s_second[j]),
              y_second + j);
      }
    }
  }
}

template <typename T>
VLM_VECTOR_CLONES void swiglu_forward(const T* gate, const T* up, const T* sigmoid, int64_t n,
                                      T* out) {
  for (int64_t i = 0; i < n; ++i) store(widen(gate[i]) * widen(sigmoid[i]) * widen(up[i]), out + i);
}

template <typename T>
VLM_VECTOR_CLONES void swiglu_backward(const T* gate, const T* up, const T* sigmoid, const T* grad,
                                       int64_t n, T* d_gate, T* d_up) {
  using C = Compute<T>;
  for (int64_t i = 0; i < n; ++i) {
    const C s = widen(sigmoid[i]), g = widen(grad[i]), x = widen(gate[i]);
    if (d_up) store(g * (x * s), d_up + i);
    if (d_gate) store(g * widen(up[i]) * (s * (1 + x * (1 - s))), d_gate + i);
  }
}

#define VLM_ROW_KERNELS(T)                                                                     \
  template void rms_norm_forward<T>(const T*, const T*, int64_t, int64_t, double, T*,          \
                                    Compute<T>*);                                              \
  template void rms_norm_backward<T>(const T*, const T*, const Compute<T>*, const T*, int64_t, \
                                     int64_t, T*, T*);                                         \
  template void swiglu_forward<T>(const T*, const T*, const T*, int64_t, T*);                  \
  template void swiglu_backward<T>(const T*, const T*, const T*, const T*, int64_t, T*, T*);   \
  template void rotate<T>(const T*, const T*, const T*, const RotaryLayout&, bool, T*);
VLM_ROW_KERNELS(float)
VLM_ROW_KERNELS(double)
VLM_ROW_KERNELS(Bf16)
#undef VLM_ROW_KERNELS

}  // namespace vlm::models::kernels
