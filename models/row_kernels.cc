#include "models/row_kernels.h"

#include <cmath>
#include <vector>

namespace vlm::models::kernels {
namespace {

// sum a[j] * b[j] * c[j] (c null: a[j] * b[j]) in double over eight lanes, which the vectoriser
// turns into vector registers where one accumulator would be a serial chain.
template <typename T>
double dot(const T* a, const T* b, const T* c, int64_t n) {
  constexpr int64_t kLanes = 8;
  double lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const double product = static_cast<double>(a[j + l]) * b[j + l];
      lanes[l] += c ? product * c[j + l] : product;
    }
  }
  double sum = 0;
  for (; j < n; ++j)
    sum += c ? static_cast<double>(a[j]) * b[j] * c[j] : static_cast<double>(a[j]) * b[j];
  for (const double lane : lanes) sum += lane;
  return sum;
}

}  // namespace

template <typename T>
void rms_norm_forward(const T* x, const T* weight, int64_t rows, int64_t dim, double eps, T* y,
                      T* inverse_rms) {
  for (int64_t row = 0; row < rows; ++row) {
    const T* xr = x + row * dim;
    const auto inv = static_cast<T>(1.0 / std::sqrt(dot<T>(xr, xr, nullptr, dim) / dim + eps));
    inverse_rms[row] = inv;
    T* yr = y + row * dim;
    for (int64_t j = 0; j < dim; ++j) yr[j] = weight[j] * (xr[j] * inv);
  }
}

template <typename T>
void rms_norm_backward(const T* x, const T* weight, const T* inverse_rms, const T* grad,
                       int64_t rows, int64_t dim, T* dx, T* dw) {
  std::vector<double> weight_sums(dw ? dim : 0, 0.0);
  for (int64_t row = 0; row < rows; ++row) {
    const T *xr = x + row * dim, *gr = grad + row * dim;
    const T inv = inverse_rms[row];
    if (dw) {
      for (int64_t j = 0; j < dim; ++j)
        weight_sums[j] += static_cast<double>(gr[j]) * (xr[j] * inv);
    }
    if (!dx) continue;
    const auto shift = static_cast<T>(dot<T>(gr, weight, xr, dim) / dim * inv * inv * inv);
    T* dxr = dx + row * dim;
    for (int64_t j = 0; j < dim; ++j) dxr[j] = inv * (gr[j] * weight[j]) - xr[j] * shift;
  }
  for (int64_t j = 0; dw && j < dim; ++j) dw[j] = static_cast<T>(weight_sums[j]);
}

template <typename T>
void rotate(const T* x, const T* cos, const T* signed_sin, const RotaryLayout& layout,
            bool transpose, T* out) {
  const int64_t dim = layout.dim, half = dim / 2;
  for (int64_t p = 0; p < layout.batch * layout.seq; ++p) {
    const int64_t angle_row = layout.angles_per_batch_row ? p : p % layout.seq;
    const T *c = cos + angle_row * dim, *s = signed_sin + angle_row * dim;
    // The sine each half is multiplied by: its own (forward) or its partner's (adjoint).
    const T *s_first = transpose ? s + half : s, *s_second = transpose ? s : s + half;
    for (int64_t h = 0; h < layout.heads; ++h) {
      const T* xr = x + (p * layout.heads + h) * dim;
      T* yr = out + (p * layout.heads + h) * dim;
      for (int64_t j = 0; j < half; ++j) {
        yr[j] = xr[j] * c[j] + xr[j + half] * s_first[j];
        yr[j + half] = xr[j + half] * c[j + half] + xr[j] * s_second[j];
      }
    }
  }
}

template <typename T>
void swiglu_forward(const T* gate, const T* up, const T* sigmoid, int64_t n, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid[i] * up[i];
}

template <typename T>
void swiglu_backward(const T* gate, const T* up, const T* sigmoid, const T* grad, int64_t n,
                     T* d_gate, T* d_up) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = sigmoid[i];
    if (d_up) d_up[i] = grad[i] * (gate[i] * s);
    if (d_gate) d_gate[i] = grad[i] * up[i] * (s * (1 + gate[i] * (1 - s)));
  }
}

template void rms_norm_forward<float>(const float*, const float*, int64_t, int64_t, double, float*,
                                      float*);
template void rms_norm_forward<double>(const double*, const double*, int64_t, int64_t, double,
                                       double*, double*);
template void rms_norm_backward<float>(const float*, const float*, const float*, const float*,
                                       int64_t, int64_t, float*, float*);
template void rms_norm_backward<double>(const double*, const double*, const double*, const double*,
                                        int64_t, int64_t, double*, double*);
template void swiglu_forward<float>(const float*, const float*, const float*, int64_t, float*);
template void swiglu_forward<double>(const double*, const double*, const double*, int64_t, double*);
template void swiglu_backward<float>(const float*, const float*, const float*, const float*,
                                     int64_t, float*, float*);
template void swiglu_backward<double>(const double*, const double*, const double*, const double*,
                                      int64_t, double*, double*);
template void rotate<float>(const float*, const float*, const float*, const RotaryLayout&, bool,
                            float*);
template void rotate<double>(const double*, const double*, const double*, const RotaryLayout&, bool,
                             double*);

}  // namespace vlm::models::kernels
