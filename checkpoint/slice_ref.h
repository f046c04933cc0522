// Where a slice of a checkpoint buffer sits, as plain data: the manifest records these, so that
// reading a manifest needs no tensor library.
#pragma once

#include <cstdint>
#include <string>

namespace vlm::checkpoint {

struct SliceRef {
  std::string buffer;
  int64_t begin = 0;  // first element
  int64_t count = 0;
};

}  // namespace vlm::checkpoint
