#include "models/attention.h"

#include <cmath>

#include "common/error.h"

namespace vlm::models {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& mask) {
  const int64_t batch = q.size(0), queries = q.size(1), heads = q.size(2), dim = q.size(3);
  const int64_t keys = k.size(1), kv_heads = k.size(2);
  VLM_CHECK(kv_heads > 0 && heads % kv_heads == 0, ShapeError, "attention: ", heads,
            " query heads do not divide into ", kv_heads, " key/value heads");
  const int64_t group = heads / kv_heads;

  // Queries of one group stacked along the sequence axis: [B, Hkv, group * T, D].
  const at::Tensor grouped_q = (q * (1.0 / std::sqrt(static_cast<double>(dim))))
                                   .view({batch, queries, kv_heads, group, dim})
                                   .permute({0, 2, 3, 1, 4})
                                   .reshape({batch, kv_heads, group * queries, dim});
  at::Tensor scores = at::matmul(grouped_q, k.permute({0, 2, 3, 1}));  // [B, Hkv, gT, S]
  if (mask.defined()) {
    VLM_CHECK(mask.dim() == 4 && mask.size(2) == queries && mask.size(3) == keys, ShapeError,
              "attention mask of shape ", mask.sizes(), " does not fit ", queries, " queries and ",
              keys, " keys");
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

}  // namespace vlm::models
