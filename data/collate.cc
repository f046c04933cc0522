#include "data/collate.h"

#include <algorithm>

#include "common/error.h"

namespace vlm::data {

Batch collate(const std::vector<PreparedSample>& samples, int32_t pad_id, int64_t image_size,
              int64_t image_tokens) {
  Batch batch;
  batch.batch_size = static_cast<int64_t>(samples.size());
  batch.image_size = image_size;
  for (const auto& sample : samples) {
    batch.seq_len = std::max(batch.seq_len, static_cast<int64_t>(sample.tokens.input_ids.size()));
    batch.num_images += sample.tokens.num_images;
  }
  const auto cells = static_cast<size_t>(batch.batch_size * batch.seq_len);
  batch.input_ids.assign(cells, pad_id);
  batch.labels.assign(cells, kIgnoreLabel);
  batch.pixels.reserve(static_cast<size_t>(batch.num_images * 3 * image_size * image_size));
  for (size_t row = 0; row < samples.size(); ++row) {
    const PreparedSample& sample = samples[row];
    const auto& ids = sample.tokens.input_ids;
    const auto& labels = sample.tokens.labels;
    const size_t offset = row * static_cast<size_t>(batch.seq_len);
    std::copy(ids.begin(), ids.end(), batch.input_ids.begin() + offset);
    std::copy(labels.begin(), labels.end(), batch.labels.begin() + offset);
    batch.lengths.push_back(static_cast<int64_t>(ids.size()));
    // The loss predicts labels[t] from position t - 1, so position 0's label never counts.
    for (size_t t = 1; t < labels.size(); ++t) batch.label_tokens += labels[t] != kIgnoreLabel;
    for (const int64_t start : sample.tokens.image_starts) {
      batch.image_spans.push_back({static_cast<int64_t>(row), start, image_tokens});
    }
    VLM_CHECK(sample.pixels.size() ==
                  static_cast<size_t>(sample.tokens.num_images * 3 * image_size * image_size),
              InternalError, "sample ", sample.id, " has ", sample.pixels.size(),
              " pixel values for ", sample.tokens.num_images, " images");
    batch.pixels.insert(batch.pixels.end(), sample.pixels.begin(), sample.pixels.end());
    batch.sample_ids.push_back(sample.id);
    batch.vdep_rows.push_back(sample.vdep ? 1 : 0);
    batch.positions.push_back(sample.position);
    batch.sample_indices.push_back(sample.index);
  }
  return batch;
}

}  // namespace vlm::data
