#include "models/attention_mask.h"

#include <limits>

#include "common/error.h"

namespace vlm::models {

at::Tensor build_attention_mask(int64_t batch, int64_t seq_len, const std::vector<int64_t>& lengths,
                                const std::vector<TokenSpan>& bidirectional, at::ScalarType dtype) {
  VLM_CHECK(batch >= 0 && seq_len >= 0, ShapeError, "attention mask of negative size ", batch,
            " x ", seq_len);
  VLM_CHECK(static_cast<int64_t>(lengths.size()) == batch, ShapeError,
            "attention mask: ", lengths.size(), " lengths for a batch of ", batch);
  for (int64_t b = 0; b < batch; ++b) {
    VLM_CHECK(lengths[b] >= 0 && lengths[b] <= seq_len, ShapeError, "attention mask: row ", b,
              " has length ", lengths[b], " outside 0..", seq_len);
  }
  const auto long_options = at::TensorOptions().dtype(at::kLong);
  const at::Tensor positions = at::arange(seq_len, long_options);
  const at::Tensor causal = positions.view({1, -1}) <= positions.view({-1, 1});  // [q, k]
  const at::Tensor length_tensor = at::tensor(lengths, long_options).view({batch, 1, 1});
  const at::Tensor real_key = positions.view({1, 1, -1}) < length_tensor;  // [B, 1, k]
  at::Tensor allowed = causal.unsqueeze(0) & real_key;                     // [B, q, k]
  // A row without any real token would be all -inf (NaN after softmax): let it see itself.
  const at::Tensor empty_row = (length_tensor == 0) & at::eye(seq_len, at::kBool).unsqueeze(0);
  allowed.logical_or_(empty_row);
  for (const TokenSpan& span : bidirectional) {
    VLM_CHECK(span.sample >= 0 && span.sample < batch && span.start >= 0 && span.length >= 0 &&
                  span.start + span.length <= lengths[span.sample],
              ShapeError, "bidirectional span (sample ", span.sample, ", start ", span.start,
              ", length ", span.length, ") lies outside the real tokens of a ", batch, " x ",
              seq_len, " batch");
    allowed[span.sample]
        .narrow(0, span.start, span.length)
        .narrow(1, span.start, span.length)
        .fill_(true);
  }
  return at::zeros({batch, 1, seq_len, seq_len}, at::TensorOptions().dtype(dtype))
      .masked_fill_(allowed.logical_not().unsqueeze(1), -std::numeric_limits<double>::infinity());
}

}  // namespace vlm::models
