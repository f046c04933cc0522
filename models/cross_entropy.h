// Cross entropy for language-model heads, lean on memory. at::cross_entropy_loss keeps the
// log-probabilities for backward, and its backward makes two more logits-sized tensors: with a
// vocabulary of tens of thousands, those are the largest tensors of a step. This one keeps only
// the logits and one log-sum-exp per row, works through the rows in chunks, and its backward
// writes the gradient over the logits it kept.
#pragma once

#include <ATen/ATen.h>

namespace vlm::models {

// The summed cross entropy of logits [N, V] against targets [N] (int64); rows whose target is
// `ignore_index` count nothing and get a zero gradient. Differentiable in the logits; the
// arithmetic is float whatever the logits' type. Backward overwrites the logits with their
// gradient: read them before it (a backward that saved them fails on the version check).
at::Tensor cross_entropy_sum(const at::Tensor& logits, const at::Tensor& targets,
                             int64_t ignore_index);

}  // namespace vlm::models
