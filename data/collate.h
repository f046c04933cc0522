// One prepared sample (tokens + pixels) and the collation of samples into a padded Batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/conversation.h"

namespace vlm::data {

struct PreparedSample {
  std::string id;
  TokenizedSample tokens;
  std::vector<float> pixels;      // tokens.num_images * 3 * image_size * image_size, normalized
  std::string dropped_from_loss;  // why, when an image did not decode (the loader's policy)
  bool vdep = false;              // a VDEP-mode sample (LoaderOptions::vdep_ratio)
  int64_t position = 0;           // global sample position
  int64_t index = 0;              // corpus index
};

// Right-pads every row to the longest sample with pad_id (labels kIgnoreLabel there), lists the
// image spans in slot order and concatenates the pixels.
Batch collate(const std::vector<PreparedSample>& samples, int32_t pad_id, int64_t image_size,
              int64_t image_tokens);

}  // namespace vlm::data
