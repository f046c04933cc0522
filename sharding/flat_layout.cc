#include "sharding/flat_layout.h"

#include <c10/core/StorageImpl.h>

#include <algorithm>

#include "common/error.h"

namespace vlm::sharding {

int64_t padded_count(int64_t count, int world_size) {
  return (count + world_size - 1) / world_size * world_size;
}

std::vector<Segment> slice_segments(const std::vector<FlatSlot>& slots, int64_t slice_begin,
                                    int64_t slice_count) {
  std::vector<Segment> segments;
  const int64_t slice_end = slice_begin + slice_count;
  for (const auto& slot : slots) {
    const int64_t begin = std::max(slice_begin, slot.offset);
    const int64_t end = std::min(slice_end, slot.offset + slot.numel);
    if (begin >= end) continue;
    Segment segment{begin - slice_begin, end - slice_begin, slot.lr_scale, slot.weight_decay};
    if (!segments.empty() && segments.back().end == segment.begin &&
        segments.back().lr_scale == segment.lr_scale &&
        segments.back().weight_decay == segment.weight_decay) {
      segments.back().end = segment.end;
    } else {
      segments.push_back(segment);
    }
  }
  return segments;
}

void free_storage(const at::Tensor& tensor) {
  c10::StorageImpl* storage = tensor.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, tensor.device()));
  storage->set_nbytes(0);
}

void allocate_storage(const at::Tensor& tensor) {
  c10::StorageImpl* storage = tensor.storage().unsafeGetStorageImpl();
  const size_t bytes = static_cast<size_t>(tensor.numel()) * tensor.element_size();
  if (storage->nbytes() == bytes) return;
  storage->set_data_ptr_noswap(storage->allocator()->allocate(bytes));
  storage->set_nbytes(bytes);
}

bool has_storage(const at::Tensor& tensor) { return tensor.storage().nbytes() > 0; }

cluster::FlatBuffer flat_view(const at::Tensor& tensor) {
  VLM_CHECK(tensor.is_contiguous(), InternalError, "flat buffers must be contiguous");
  cluster::FlatBuffer buffer;
  buffer.data = tensor.data_ptr();
  buffer.count = static_cast<size_t>(tensor.numel());
  switch (tensor.scalar_type()) {
    case at::kFloat:
      buffer.dtype = cluster::DType::kFloat32;
      break;
    case at::kBFloat16:
      buffer.dtype = cluster::DType::kBFloat16;
      break;
    case at::kDouble:
      buffer.dtype = cluster::DType::kFloat64;
      break;
    case at::kLong:
      buffer.dtype = cluster::DType::kInt64;
      break;
    default:
      VLM_THROW(InternalError, "no flat buffer type for ", tensor.scalar_type());
  }
  return buffer;
}

}  // namespace vlm::sharding
