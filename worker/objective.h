// Training objectives: a model's outputs and a batch -> named loss terms. Each term is a SUM over
// its tokens; the trainer divides by the global token count of the step, so a step's loss does
// not depend on how the global batch is split into micro batches and ranks.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>

#include "models/model.h"
#include "worker/batch_tensors.h"

namespace vlm::worker {

struct LossSums {
  at::Tensor total;                         // scalar, differentiable: what backward() runs on
  std::map<std::string, at::Tensor> terms;  // scalar sums by name, detached (for metrics)
};

// LLaVA: next-token cross entropy over labelled positions (labels shifted by one).
LossSums llava_loss(const models::ModelOutputs& outputs, const TensorBatch& batch);

// Summed next-token cross entropy of logits [B,T,V] against labels [B,T].
at::Tensor shifted_cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace vlm::worker
