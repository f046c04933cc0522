// The engine's checkpointable state as plain data: the one description on both sides of a save.
// sharding/ lays its flat buffers out with it and hands over slices of them; checkpoint/ writes
// them, records them in the manifest and reads them back. A buffer is one flat fp32 array of the
// engine: a unit's trainable parameters or one of their AdamW moments, named "<unit>/params",
// "<unit>/exp_avg", "<unit>/exp_avg_sq". Elements are counted without the engine's padding, so
// coordinates mean the same at every world size. No tensor library here: a manifest is read
// without one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vlm::state {

// Where a parameter sits in its buffer.
struct ParamSpan {
  std::string name;
  int64_t offset = 0;
  int64_t count = 0;
};

// A whole buffer: its size and the unit layout, which a resume checks is the model's.
struct BufferLayout {
  std::string name;
  int64_t total = 0;  // elements
  std::vector<ParamSpan> params;
};

// Which elements of a buffer a slice holds.
struct SliceRef {
  std::string buffer;
  int64_t begin = 0;  // first element
  int64_t count = 0;
};

}  // namespace vlm::state
