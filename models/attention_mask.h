// Additive attention masks: causal, plus bi-directional blocks over each image's tokens (VoRA),
// plus padding. 0 where attention is allowed, -inf where it is not.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace vlm::models {

struct TokenSpan {
  int64_t sample = 0;  // row in the batch
  int64_t start = 0;   // first position
  int64_t length = 0;  // number of positions
};

// lengths[b]: real tokens of row b (the rest is right padding). bidirectional: spans (usually
// each image's tokens, VoRA) inside which attention goes both ways; they must lie within their
// row's real tokens. Key k is visible to query q when k <= q or both are in one span, and k is
// real. A padded query row still sees its real keys, so no row is all -inf (a row with no real
// token sees only itself). ShapeError for inconsistent arguments. Returns [B, 1, T, T] of dtype.
at::Tensor build_attention_mask(int64_t batch, int64_t seq_len, const std::vector<int64_t>& lengths,
                                const std::vector<TokenSpan>& bidirectional,
                                at::ScalarType dtype = at::kFloat);

}  // namespace vlm::models
