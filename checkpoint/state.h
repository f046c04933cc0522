// A checkpoint's content as plain data: what the engine hands over to be saved and gets back.
// A buffer is one flat fp32 array of the engine (a unit's trainable parameters, or one of their
// AdamW moments), named "<unit>/params", "<unit>/exp_avg", "<unit>/exp_avg_sq"; elements are
// counted without the engine's padding, so a slice's coordinates mean the same at any world
// size.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "checkpoint/slice_ref.h"

namespace vlm::checkpoint {

// One rank's part of one buffer, with its values.
struct FlatSlice {
  std::string buffer;
  int64_t total = 0;  // elements of the whole buffer (unpadded)
  int64_t begin = 0;  // first element this slice holds
  at::Tensor values;  // fp32, 1-D, contiguous; its numel() is the slice's count
};

}  // namespace vlm::checkpoint
