// One rank's part of a buffer (state/layout.h) with its values: what the engine hands over to be
// saved, and what it reads back. Includes LibTorch; state/layout.h is the part without it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>

#include "state/layout.h"

namespace vlm::state {

struct FlatSlice {
  std::string buffer;
  int64_t total = 0;  // elements of the whole buffer
  int64_t begin = 0;  // first element this slice holds
  at::Tensor values;  // fp32, 1-D, contiguous on the host; its numel() is the slice's count
};

// Reads elements [begin, begin + count) of a saved buffer as fp32.
using SliceReader =
    std::function<at::Tensor(const std::string& buffer, int64_t begin, int64_t count)>;

}  // namespace vlm::state
