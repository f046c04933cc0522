// A collated batch, as plain arrays (the data library does not depend on torch; the worker wraps
// these buffers in tensors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vlm::data {

struct ImageSpan {
  int64_t sample = 0;  // row in the batch
  int64_t start = 0;   // first position of the image's tokens
  int64_t length = 0;  // image tokens (LoaderOptions::image_tokens)
};

struct Batch {
  int64_t batch_size = 0;
  int64_t seq_len = 0;                 // padded length (longest sample)
  std::vector<int64_t> input_ids;      // [batch_size * seq_len], pad id after each sample's end
  std::vector<int64_t> labels;         // [batch_size * seq_len], kIgnoreLabel at padding
  std::vector<int64_t> lengths;        // [batch_size] real tokens per row
  std::vector<ImageSpan> image_spans;  // one per image, in slot order (row-major)
  // [batch_size]: 1 where the row is a VDEP-mode sample ("<auto_image>" before its image).
  std::vector<uint8_t> vdep_rows;
  int64_t num_images = 0;
  int64_t image_size = 0;
  std::vector<float> pixels;  // [num_images * 3 * image_size * image_size], normalized, CHW
  std::vector<std::string> sample_ids;
  // [batch_size]: each row's global sample position (Loader::seek's counter) and corpus index,
  // for tracing which rows a step read (VLM_TRACE_ROWS, worker/trainer.cc).
  std::vector<int64_t> positions;
  std::vector<int64_t> sample_indices;
  // Number of labels != kIgnoreLabel at positions >= 1 (the loss shifts by one, so a label at
  // position 0 is never predicted): the token count the loss averages over.
  int64_t label_tokens = 0;
  // Rows whose sample was left out of the loss (image refused or undecodable, record unusable);
  // the loader logs each with its reason.
  int64_t rows_left_out = 0;
};

}  // namespace vlm::data
