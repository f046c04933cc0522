#include "worker/objective.h"

#include "models/cross_entropy.h"

namespace vlm::worker {

at::Tensor shifted_cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels) {
  // Shift the labels rather than slice the logits: a slice would copy the largest tensor.
  const at::Tensor next = at::constant_pad_nd(labels.slice(1, 1), {0, 1}, models::kIgnoreLabel);
  return models::cross_entropy_sum(logits.reshape({-1, logits.size(-1)}), next.reshape({-1}),
                                   models::kIgnoreLabel);
}

LossSums llava_loss(const models::ModelOutputs& outputs, const TensorBatch& batch) {
  LossSums sums;
  sums.total = shifted_cross_entropy_sum(outputs.logits, batch.labels);
  sums.terms["text_ce"] = sums.total.detach();
  return sums;
}

}  // namespace vlm::worker
