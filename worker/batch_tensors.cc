#include "worker/batch_tensors.h"

#include <numeric>

#include "models/attention_mask.h"

namespace vlm::worker {
namespace {

at::Tensor long_tensor(const std::vector<int64_t>& values, at::IntArrayRef shape) {
  return at::from_blob(const_cast<int64_t*>(values.data()), shape, at::kLong).clone();
}

}  // namespace

TensorBatch to_tensors(const data::Batch& batch, bool bidirectional_images, at::Device device) {
  TensorBatch out;
  const int64_t b = batch.batch_size;
  const int64_t t = batch.seq_len;
  out.inputs.input_ids = long_tensor(batch.input_ids, {b, t});
  out.labels = long_tensor(batch.labels, {b, t});
  if (batch.num_images > 0) {
    const int64_t s = batch.image_size;
    out.inputs.images = at::from_blob(const_cast<float*>(batch.pixels.data()),
                                      {batch.num_images, 3, s, s}, at::kFloat)
                            .clone();
  }
  std::vector<models::TokenSpan> spans;
  if (bidirectional_images) {
    for (const auto& span : batch.image_spans)
      spans.push_back({span.sample, span.start, span.length});
  }
  out.inputs.attention_mask = models::build_attention_mask(b, t, batch.lengths, spans);
  if (!device.is_cpu()) {
    for (at::Tensor* tensor :
         {&out.inputs.input_ids, &out.labels, &out.inputs.images, &out.inputs.attention_mask}) {
      if (tensor->defined()) *tensor = tensor->to(device);
    }
  }
  out.label_tokens = batch.label_tokens;
  out.image_spans = batch.image_spans;
  out.vdep_rows = batch.vdep_rows;
  out.real_tokens = std::accumulate(batch.lengths.begin(), batch.lengths.end(), int64_t{0});
  return out;
}

}  // namespace vlm::worker
