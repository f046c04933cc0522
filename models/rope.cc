#include "models/rope.h"

#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"
#include "models/cpu_kernel.h"
#include "models/row_kernels.h"

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

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void rotate_tensor(const at::Tensor& x, const RotaryAngles& angles, bool transpose,
                   at::Tensor& out) {
  const kernels::RotaryLayout layout{x.size(0), x.size(1), x.size(2), x.size(3),
                                     angles.cos.dim() == 3};
  VLM_DISPATCH_ROW_TYPES(x.scalar_type(), "rotary", [&] {
    kernels::rotate(row_data<scalar_t>(x), row_data<scalar_t>(angles.cos),
                    row_data<scalar_t>(angles.signed_sin), layout, transpose,
                    row_data<scalar_t>(out));
  });
}

// rotate_half as one autograd node (the composite form makes five tensors forward). The angles
// are constant: passed as a plain argument, as attention passes its mask.
class FusedRotary : public torch::autograd::Function<FusedRotary> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const RotaryAngles& angles) {
    at::Tensor out = at::empty_like(x);
    rotate_tensor(x, angles, /*transpose=*/false, out);
    ctx->saved_data["cos"] = angles.cos;
    ctx->saved_data["signed_sin"] = angles.signed_sin;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const RotaryAngles angles{ctx->saved_data["cos"].toTensor(),
                              ctx->saved_data["signed_sin"].toTensor()};
    const at::Tensor grad = grad_outputs[0].contiguous();
    at::Tensor grad_x = at::empty_like(grad);
    rotate_tensor(grad, angles, /*transpose=*/true, grad_x);
    return {grad_x, at::Tensor()};
  }
};

bool rotary_kernel_applies(const at::Tensor& x, const RotaryAngles& angles) {
  const auto fits = [&](const at::Tensor& table) {
    return table.scalar_type() == x.scalar_type() && table.is_cpu() &&
           table.size(-1) == x.size(3) &&
           (table.dim() == 2
                ? table.size(0) == x.size(1)
                : table.dim() == 3 && table.size(0) == x.size(0) && table.size(1) == x.size(1));
  };
  return x.dim() == 4 && row_kernel_applies(x) && fits(angles.cos) && fits(angles.signed_sin);
}

}  // namespace

at::Tensor apply_rotary(const at::Tensor& x, const RotaryAngles& angles) {
  if (rotary_kernel_applies(x, angles)) {
    return FusedRotary::apply(
        x.contiguous(), RotaryAngles{angles.cos.contiguous(), angles.signed_sin.contiguous()});
  }
  const int64_t half = x.size(-1) / 2;
  const at::Tensor swapped = at::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * angles.cos.unsqueeze(-2) + swapped * angles.signed_sin.unsqueeze(-2);
}

}  // namespace vlm::models
