#include "worker/objective.h"

namespace vlm::worker {

at::Tensor shifted_cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t vocab = logits.size(-1);
  const at::Tensor predictions = logits.slice(1, 0, -1).reshape({-1, vocab});
  const at::Tensor targets = labels.slice(1, 1).reshape({-1});
  return at::cross_entropy_loss(predictions, targets, {}, at::Reduction::Sum, models::kIgnoreLabel);
}

LossSums llava_loss(const models::ModelOutputs& outputs, const TensorBatch& batch) {
  LossSums sums;
  sums.total = shifted_cross_entropy_sum(outputs.logits, batch.labels);
  sums.terms["text_ce"] = sums.total.detach();
  return sums;
}

}  // namespace vlm::worker
