#include "models/attention.h"

#include <cblas.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "common/error.h"
#include "models/cpu_kernel.h"

namespace vlm::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One head's rows of a [B, T, H, D] tensor whose last dimension is dense: a row-major matrix
// T x D with leading dimension stride(1), handed to BLAS as it lies (no permuted copy).
template <typename T>
struct HeadMatrix {
  T* data;
  int64_t ld;
};

template <typename T>
HeadMatrix<T> head(const at::Tensor& x, int64_t b, int64_t h) {
  return {x.data_ptr<T>() + b * x.stride(0) + h * x.stride(2), x.stride(1)};
}

// C (m x n) = alpha * op(A) * op(B) + beta * C, row-major; float or double.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
  }
}

// Runs fn(b, kv_head, first_query_head) for every batch row and key/value head, in order. Not
// in parallel: BLAS threads each product itself (worker/threads.h gives it the rank's cores),
// and a second pool around it made the two fight (6x slower at 2 threads with other work on
// the machine, measured).
template <typename Fn>
void for_each_kv_head(int64_t batch, int64_t kv_heads, int64_t group, const Fn& fn) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t kv = 0; kv < kv_heads; ++kv) fn(b, kv, kv * group);
  }
}

// The factor on q k^T: 1 / sqrt(head dimension).
double score_scale(int64_t head_dim) { return 1.0 / std::sqrt(static_cast<double>(head_dim)); }

// The additive mask, constant (no gradient), possibly undefined: passed to the autograd node
// as a plain argument, since an undefined tensor cannot be one of its inputs.
struct AdditiveMask {
  at::Tensor values;
};

// Attention as one autograd node whose products are BLAS calls per (batch row, head) on
// strided views: ATen's bmm on CPU splits a batch into per-matrix calls through the dispatcher
// (a select and a conj check each), which costs more than the small products themselves.
// Softmax and its backward stay single ATen calls over all heads.
class FusedAttention : public torch::autograd::Function<FusedAttention> {
 public:
  // q: [B, T, H, D], k, v: [B, S, Hkv, D], each with a dense last dimension; mask additive.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const AdditiveMask& mask) {
    at::Tensor probs = scores(q, k, mask.values).softmax(-1);
    at::Tensor out = at::empty({q.size(0), q.size(1), q.size(2), q.size(3)}, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention values",
                               [&] { probs_times_values<scalar_t>(probs, v, out); });
    ctx->save_for_backward({q, k, v, probs});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const at::Tensor grad_out = grad_outputs[0].contiguous();
    at::Tensor grad_q = at::empty(q.sizes(), q.options());
    at::Tensor grad_k = at::zeros(k.sizes(), k.options());
    at::Tensor grad_v = at::zeros(v.sizes(), v.options());
    at::Tensor grad_probs = at::empty(probs.sizes(), probs.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention backward", [&] {
      value_gradients<scalar_t>(probs, v, grad_out, grad_probs, grad_v);
    });
    const at::Tensor grad_scores =
        at::_softmax_backward_data(grad_probs, probs, -1, probs.scalar_type());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention backward", [&] {
      query_key_gradients<scalar_t>(grad_scores, q, k, grad_q, grad_k);
    });
    return {grad_q, grad_k, grad_v, at::Tensor()};  // none for the mask
  }

 private:
  static double scale(const at::Tensor& q) { return score_scale(q.size(3)); }

  // [B, H, T, S]: scale * Q K^T, plus the mask.
  static at::Tensor scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& mask) {
    const int64_t batch = q.size(0), queries = q.size(1), heads = q.size(2), dim = q.size(3);
    const int64_t keys = k.size(1), kv_heads = k.size(2), group = heads / kv_heads;
    at::Tensor s = at::empty({batch, heads, queries, keys}, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention scores", [&] {
      const auto alpha = static_cast<scalar_t>(scale(q));
      scalar_t* out = s.data_ptr<scalar_t>();
      for_each_kv_head(batch, kv_heads, group, [&](int64_t b, int64_t kv, int64_t first) {
        const HeadMatrix<scalar_t> key = head<scalar_t>(k, b, kv);
        for (int64_t h = first; h < first + group; ++h) {
          const HeadMatrix<scalar_t> query = head<scalar_t>(q, b, h);
          gemm<scalar_t>(false, true, queries, keys, dim, alpha, query.data, query.ld, key.data,
                         key.ld, 0, out + (b * heads + h) * queries * keys, keys);
        }
      });
    });
    if (mask.defined()) s.add_(mask);  // [B or 1, 1, T, S] broadcasts over heads
    return s;
  }

  template <typename T>
  static void probs_times_values(const at::Tensor& probs, const at::Tensor& v, at::Tensor& out) {
    const int64_t batch = out.size(0), queries = out.size(1), heads = out.size(2),
                  dim = out.size(3), keys = v.size(1), kv_heads = v.size(2);
    const int64_t group = heads / kv_heads;
    const T* p = probs.data_ptr<T>();
    for_each_kv_head(batch, kv_heads, group, [&](int64_t b, int64_t kv, int64_t first) {
      const HeadMatrix<T> value = head<T>(v, b, kv);
      for (int64_t h = first; h < first + group; ++h) {
        const HeadMatrix<T> o = head<T>(out, b, h);
        gemm<T>(false, false, queries, dim, keys, 1, p + (b * heads + h) * queries * keys, keys,
                value.data, value.ld, 0, o.data, o.ld);
      }
    });
  }

  // dP = dO V^T; dV = sum over the group's heads of P^T dO.
  template <typename T>
  static void value_gradients(const at::Tensor& probs, const at::Tensor& v,
                              const at::Tensor& grad_out, at::Tensor& grad_probs,
                              at::Tensor& grad_v) {
    const int64_t batch = grad_out.size(0), queries = grad_out.size(1), heads = grad_out.size(2),
                  dim = grad_out.size(3), keys = v.size(1), kv_heads = v.size(2);
    const int64_t group = heads / kv_heads;
    const T* p = probs.data_ptr<T>();
    T* dp = grad_probs.data_ptr<T>();
    for_each_kv_head(batch, kv_heads, group, [&](int64_t b, int64_t kv, int64_t first) {
      const HeadMatrix<T> value = head<T>(v, b, kv), dv = head<T>(grad_v, b, kv);
      for (int64_t h = first; h < first + group; ++h) {
        const HeadMatrix<T> d_out = head<T>(grad_out, b, h);
        const int64_t offset = (b * heads + h) * queries * keys;
        gemm<T>(false, true, queries, keys, dim, 1, d_out.data, d_out.ld, value.data, value.ld, 0,
                dp + offset, keys);
        gemm<T>(true, false, keys, dim, queries, 1, p + offset, keys, d_out.data, d_out.ld, 1,
                dv.data, dv.ld);
      }
    });
  }

  // dQ = scale * dS K; dK = scale * sum over the group's heads of dS^T Q.
  template <typename T>
  static void query_key_gradients(const at::Tensor& grad_scores, const at::Tensor& q,
                                  const at::Tensor& k, at::Tensor& grad_q, at::Tensor& grad_k) {
    const int64_t batch = q.size(0), queries = q.size(1), heads = q.size(2), dim = q.size(3),
                  keys = k.size(1), kv_heads = k.size(2);
    const int64_t group = heads / kv_heads;
    const auto alpha = static_cast<T>(scale(q));
    const T* ds = grad_scores.data_ptr<T>();
    for_each_kv_head(batch, kv_heads, group, [&](int64_t b, int64_t kv, int64_t first) {
      const HeadMatrix<T> key = head<T>(k, b, kv), dk = head<T>(grad_k, b, kv);
      for (int64_t h = first; h < first + group; ++h) {
        const HeadMatrix<T> query = head<T>(q, b, h), dq = head<T>(grad_q, b, h);
        const T* d_scores = ds + (b * heads + h) * queries * keys;
        gemm<T>(false, false, queries, dim, keys, alpha, d_scores, keys, key.data, key.ld, 0,
                dq.data, dq.ld);
        gemm<T>(true, false, keys, dim, queries, alpha, d_scores, keys, query.data, query.ld, 1,
                dk.data, dk.ld);
      }
    });
  }
};

// Attention in bf16 on the CPU as one autograd node over ATen's batched products (oneDNN's bf16
// kernels): the queries of a key/value head's group stacked as [B * Hkv, group * T, D], the
// softmax in ATen's bf16 kernel (float arithmetic inside), and only the scaled queries, keys,
// values and probabilities kept for backward, all bf16. The composite form keeps an fp32 copy of
// the probabilities and, through its in-place masking of a view, copies their gradient again.
class Bf16Attention : public torch::autograd::Function<Bf16Attention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const AdditiveMask& mask) {
    const Shape s = shape_of(q, k);
    // Out of place: with one batch row and one head per group the stack is a view of q.
    const at::Tensor scaled_q = stack_queries(q, s) * score_scale(s.dim);
    const at::Tensor keys = stack_heads(k, s), values = stack_heads(v, s);
    at::Tensor scores = at::bmm(scaled_q, keys.transpose(1, 2));  // [B * Hkv, group * T, S]
    if (mask.values.defined()) {
      scores.view({s.batch, s.kv_heads, s.group, s.queries, s.keys})
          .add_(mask.values.unsqueeze(1));  // [B or 1, 1, 1, T, S]
    }
    const at::Tensor probs = at::_softmax(scores, -1, /*half_to_float=*/false);
    ctx->save_for_backward({scaled_q, keys, values, probs});
    return unstack_queries(at::bmm(probs, values), s).reshape({s.batch, s.queries, -1});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &scaled_q = saved[0], &keys = saved[1], &values = saved[2], &probs = saved[3];
    // The shape again, from the output's gradient [B, T, H * D] and the keys [B * Hkv, S, D].
    const at::Tensor& grad = grad_outputs[0];
    const int64_t batch = grad.size(0), dim = keys.size(2), heads = grad.size(2) / dim;
    const int64_t kv_heads = keys.size(0) / batch;
    const Shape s{batch, grad.size(1), heads, kv_heads, heads / kv_heads, keys.size(1), dim};
    const at::Tensor grad_out = stack_queries(grad.reshape({batch, s.queries, heads, dim}), s);
    const at::Tensor grad_values = at::bmm(probs.transpose(1, 2), grad_out);
    const at::Tensor grad_scores = at::_softmax_backward_data(
        at::bmm(grad_out, values.transpose(1, 2)), probs, -1, probs.scalar_type());
    const at::Tensor grad_q = at::bmm(grad_scores, keys).mul_(score_scale(dim));
    // d scores / d keys = the scaled queries: the scale is already in them.
    const at::Tensor grad_keys = at::bmm(grad_scores.transpose(1, 2), scaled_q);
    return {unstack_queries(grad_q, s), unstack_heads(grad_keys, s), unstack_heads(grad_values, s),
            at::Tensor()};
  }

 private:
  struct Shape {
    int64_t batch, queries, heads, kv_heads, group, keys, dim;
  };

  static Shape shape_of(const at::Tensor& q, const at::Tensor& k) {
    return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(2) / k.size(2),
            k.size(1), q.size(3)};
  }

  // [B, T, H, D] -> [B * Hkv, group * T, D]: query head h = kv * group + g at row g * T + t.
  static at::Tensor stack_queries(const at::Tensor& x, const Shape& s) {
    return x.reshape({s.batch, s.queries, s.kv_heads, s.group, s.dim})
        .permute({0, 2, 3, 1, 4})
        .reshape({s.batch * s.kv_heads, s.group * s.queries, s.dim});
  }
  static at::Tensor unstack_queries(const at::Tensor& x, const Shape& s) {
    return x.reshape({s.batch, s.kv_heads, s.group, s.queries, s.dim})
        .permute({0, 3, 1, 2, 4})
        .reshape({s.batch, s.queries, s.heads, s.dim});
  }
  // [B, S, Hkv, D] <-> [B * Hkv, S, D].
  static at::Tensor stack_heads(const at::Tensor& x, const Shape& s) {
    return x.permute({0, 2, 1, 3}).reshape({s.batch * s.kv_heads, s.keys, s.dim});
  }
  static at::Tensor unstack_heads(const at::Tensor& x, const Shape& s) {
    return x.reshape({s.batch, s.kv_heads, s.keys, s.dim}).permute({0, 2, 1, 3}).contiguous();
  }
};

// BLAS takes the heads as they lie when each row of D elements is dense and rows do not
// overlap; anything else is copied once.
at::Tensor blas_ready(const at::Tensor& x) {
  return x.stride(3) == 1 && x.stride(1) >= x.size(3) && x.stride(2) >= x.size(3) ? x
                                                                                  : x.contiguous();
}

// The general path (bf16/fp16, other devices): matmul + mask + softmax + matmul.
at::Tensor attention_by_matmul(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& mask) {
  const int64_t batch = q.size(0), queries = q.size(1), heads = q.size(2), dim = q.size(3);
  const int64_t keys = k.size(1), kv_heads = k.size(2);
  const int64_t group = heads / kv_heads;
  // Queries of one group stacked along the sequence axis: [B, Hkv, group * T, D].
  const at::Tensor grouped_q = (q * score_scale(dim))
                                   .view({batch, queries, kv_heads, group, dim})
                                   .permute({0, 2, 3, 1, 4})
                                   .reshape({batch, kv_heads, group * queries, dim});
  at::Tensor scores = at::matmul(grouped_q, k.permute({0, 2, 3, 1}));  // [B, Hkv, gT, S]
  if (mask.defined()) {
    // In place: the product is fresh and matmul's backward does not need it.
    scores.view({batch, kv_heads, group, queries, keys}).add_(mask.unsqueeze(1));
  }
  const bool low_precision = q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf;
  const at::Tensor probs = low_precision ? at::softmax(scores, -1, at::kFloat).to(q.scalar_type())
                                         : at::softmax(scores, -1);
  return at::matmul(probs, v.transpose(1, 2))  // [B, Hkv, gT, D]
      .view({batch, kv_heads, group, queries, dim})
      .permute({0, 3, 1, 2, 4})
      .reshape({batch, queries, heads * dim});
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& mask) {
  const int64_t batch = q.size(0), queries = q.size(1), heads = q.size(2), dim = q.size(3);
  const int64_t keys = k.size(1), kv_heads = k.size(2);
  VLM_CHECK(kv_heads > 0 && heads % kv_heads == 0, ShapeError, "attention: ", heads,
            " query heads do not divide into ", kv_heads, " key/value heads");
  if (mask.defined()) {
    VLM_CHECK(mask.dim() == 4 && mask.size(1) == 1 && mask.size(2) == queries &&
                  mask.size(3) == keys && (mask.size(0) == 1 || mask.size(0) == batch),
              ShapeError, "attention mask of shape ", mask.sizes(), " does not fit ", queries,
              " queries and ", keys, " keys");
  }
  const bool bf16_on_cpu = q.device().is_cpu() && q.scalar_type() == at::kBFloat16 &&
                           k.scalar_type() == at::kBFloat16 && v.scalar_type() == at::kBFloat16;
  if (!cpu_kernel_applies(q) && !bf16_on_cpu) return attention_by_matmul(q, k, v, mask);
  const AdditiveMask plain_mask{mask.defined() ? mask.to(q.scalar_type()) : mask};
  if (bf16_on_cpu) return Bf16Attention::apply(q, k, v, plain_mask);
  return FusedAttention::apply(blas_ready(q), blas_ready(k), blas_ready(v), plain_mask)
      .view({batch, queries, heads * dim});
}

}  // namespace vlm::models
