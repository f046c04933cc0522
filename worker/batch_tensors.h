// A data::Batch (plain arrays) as the model's input tensors.
#pragma once

#include <ATen/ATen.h>

#include "data/batch.h"
#include "models/model.h"

namespace vlm::worker {

struct TensorBatch {
  models::ModelInputs inputs;
  at::Tensor labels;  // [B, T] int64, kIgnoreLabel where no loss
  int64_t label_tokens = 0;
  int64_t real_tokens = 0;                   // non-padding tokens (for throughput)
  std::vector<data::ImageSpan> image_spans;  // each image's positions, in slot order
  std::vector<uint8_t> vdep_rows;            // [B]: 1 for a VDEP-mode row
};

// bidirectional_images: each image's tokens attend to each other both ways (VoRA); LLaVA keeps
// the plain causal mask. The tensors are made on the CPU and moved to `device`.
TensorBatch to_tensors(const data::Batch& batch, bool bidirectional_images,
                       at::Device device = at::kCPU);

}  // namespace vlm::worker
