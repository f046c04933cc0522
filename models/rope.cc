#include "models/rope.h"

#include "common/error.h"

namespace vlm::models {

RotaryTable::RotaryTable(int64_t head_dim, double theta, int64_t initial_positions)
    : head_dim_(head_dim), theta_(theta) {
  VLM_CHECK(head_dim % 2 == 0, ConfigError, "RoPE needs an even head dimension, got ", head_dim);
  grow(std::max<int64_t>(initial_positions, 1));
}

void RotaryTable::grow(int64_t positions) {
  const auto options = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor inv_freq =
      at::pow(theta_, at::arange(0, head_dim_, 2, options) / static_cast<double>(head_dim_))
          .reciprocal();
  const at::Tensor angles = at::outer(at::arange(positions, options), inv_freq);
  const at::Tensor sin = angles.sin();
  exact_ = {at::cat({angles.cos(), angles.cos()}, -1), at::cat({-sin, sin}, -1)};
  tables_.clear();
  positions_ = positions;
}

RotaryAngles RotaryTable::lookup(int64_t seq_len, const at::Tensor& position_ids,
                                 at::ScalarType dtype, at::Device device) {
  int64_t needed = seq_len;
  if (position_ids.defined() && position_ids.numel() > 0) {
    VLM_CHECK(position_ids.min().item<int64_t>() >= 0, ShapeError,
              "position_ids must be non-negative");
    needed = std::max(needed, position_ids.max().item<int64_t>() + 1);
  }
  if (needed > positions_) grow(std::max(needed, 2 * positions_));
  const auto key = std::make_pair(dtype, device.str());
  auto found = tables_.find(key);
  if (found == tables_.end()) {
    const auto options = at::TensorOptions().dtype(dtype).device(device);
    found =
        tables_.emplace(key, RotaryAngles{exact_.cos.to(options), exact_.signed_sin.to(options)})
            .first;
  }
  const RotaryAngles& table = found->second;
  if (!position_ids.defined()) {
    return {table.cos.narrow(0, 0, seq_len), table.signed_sin.narrow(0, 0, seq_len)};
  }
  const at::Tensor flat = position_ids.reshape({-1});
  auto gather = [&](const at::Tensor& t) {
    return t.index_select(0, flat).view({position_ids.size(0), position_ids.size(1), head_dim_});
  };
  return {gather(table.cos), gather(table.signed_sin)};
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryAngles& angles) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor swapped = at::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * angles.cos.unsqueeze(-2) + swapped * angles.signed_sin.unsqueeze(-2);
}

}  // namespace vlm::models
