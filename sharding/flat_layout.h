// Flat buffers: a group of parameters laid end to end in one tensor, padded so that W ranks
// each own an equal contiguous slice. The layout is a function of the parameters alone.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/communicator.h"

namespace vlm::sharding {

// count rounded up to a multiple of world_size.
int64_t padded_count(int64_t count, int world_size);

// One parameter's place in a flat buffer, with its optimizer settings.
struct FlatSlot {
  std::string name;
  at::Tensor param;  // the model's parameter (its data is a view into the buffer when live)
  int64_t offset = 0;
  int64_t numel = 0;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

// A stretch of a rank's slice where every element has the same optimizer settings.
struct Segment {
  int64_t begin = 0;  // relative to the slice start
  int64_t end = 0;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

// The segments of [slice_begin, slice_begin + slice_count) over the slots; padding is in none.
std::vector<Segment> slice_segments(const std::vector<FlatSlot>& slots, int64_t slice_begin,
                                    int64_t slice_count);

// Storage that is given back between uses (stage 3) and allocated again, in place: tensors that
// view it (the model's parameters, autograd's saved copies) see the new memory.
void free_storage(const at::Tensor& tensor);
void allocate_storage(const at::Tensor& tensor);  // back to tensor.numel() elements, unset
bool has_storage(const at::Tensor& tensor);

// A cluster::FlatBuffer over a contiguous CPU tensor (float32, bfloat16, float64 or int64).
cluster::FlatBuffer flat_view(const at::Tensor& tensor);

}  // namespace vlm::sharding
