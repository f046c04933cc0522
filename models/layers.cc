#include "models/layers.h"

#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"
#include "models/cpu_kernel.h"
#include "models/row_kernels.h"

namespace vlm::models {
namespace {

thread_local at::Device placement_device = at::kCPU;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// RMSNorm over the last dimension as one autograd node: one pass over the rows forward and one
// backward, where the composite form makes six tensors forward and about ten backward (on the
// tiny model's 128-wide rows, mostly allocation and dispatch). The arithmetic: row_kernels.h.
class FusedRmsNorm : public torch::autograd::Function<FusedRmsNorm> {
 public:
  // x: [..., D] dense; weight: [D].
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            double eps) {
    const int64_t dim = x.size(-1), rows = dim == 0 ? 0 : x.numel() / dim;
    at::Tensor out = at::empty_like(x);
    at::Tensor inverse_rms =
        at::empty({rows}, x.options().dtype(row_compute_dtype(x.scalar_type())));
    VLM_DISPATCH_ROW_TYPES(x.scalar_type(), "rms_norm", [&] {
      using Element = RowElementOf<scalar_t>;
      kernels::rms_norm_forward(row_data<scalar_t>(x), row_data<scalar_t>(weight), rows, dim, eps,
                                row_data<scalar_t>(out),
                                inverse_rms.data_ptr<kernels::Compute<Element>>());
    });
    ctx->save_for_backward({x, weight, inverse_rms});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &inverse_rms = saved[2];
    const at::Tensor grad = grad_outputs[0].contiguous();
    const int64_t dim = x.size(-1), rows = inverse_rms.numel();
    const bool want_x = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);
    at::Tensor grad_x = want_x ? at::empty_like(x) : at::Tensor();
    at::Tensor grad_w = want_w ? at::empty_like(weight) : at::Tensor();
    VLM_DISPATCH_ROW_TYPES(x.scalar_type(), "rms_norm backward", [&] {
      using Element = RowElementOf<scalar_t>;
      kernels::rms_norm_backward(row_data<scalar_t>(x), row_data<scalar_t>(weight),
                                 inverse_rms.data_ptr<kernels::Compute<Element>>(),
                                 row_data<scalar_t>(grad), rows, dim,
                                 want_x ? row_data<scalar_t>(grad_x) : nullptr,
                                 want_w ? row_data<scalar_t>(grad_w) : nullptr);
    });
    return {grad_x, grad_w, at::Tensor()};
  }
};

// silu(gate) * up as one node: the composite's backward is three passes (two products and
// silu's backward, which evaluates exp again); this one is one pass over the saved sigmoid.
class FusedSwiGlu : public torch::autograd::Function<FusedSwiGlu> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    const at::Tensor sigmoid = at::sigmoid(gate);
    at::Tensor out = at::empty_like(gate);
    VLM_DISPATCH_ROW_TYPES(gate.scalar_type(), "swiglu", [&] {
      kernels::swiglu_forward(row_data<scalar_t>(gate), row_data<scalar_t>(up),
                              row_data<scalar_t>(sigmoid), gate.numel(), row_data<scalar_t>(out));
    });
    ctx->save_for_backward({gate, up, sigmoid});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &gate = saved[0], &up = saved[1], &sigmoid = saved[2];
    const at::Tensor grad = grad_outputs[0].contiguous();
    const bool want_gate = ctx->needs_input_grad(0), want_up = ctx->needs_input_grad(1);
    at::Tensor d_gate = want_gate ? at::empty_like(gate) : at::Tensor();
    at::Tensor d_up = want_up ? at::empty_like(up) : at::Tensor();
    VLM_DISPATCH_ROW_TYPES(gate.scalar_type(), "swiglu backward", [&] {
      kernels::swiglu_backward(row_data<scalar_t>(gate), row_data<scalar_t>(up),
                               row_data<scalar_t>(sigmoid), row_data<scalar_t>(grad), gate.numel(),
                               want_gate ? row_data<scalar_t>(d_gate) : nullptr,
                               want_up ? row_data<scalar_t>(d_up) : nullptr);
    });
    return {d_gate, d_up};
  }
};

}  // namespace

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if (row_kernel_applies(gate) && up.scalar_type() == gate.scalar_type() && up.is_cpu() &&
      gate.sizes() == up.sizes()) {
    return FusedSwiGlu::apply(gate.contiguous(), up.contiguous());
  }
  return at::silu(gate) * up;
}

ParameterPlacement::ParameterPlacement(at::Device device) : previous_(placement_device) {
  placement_device = device;
}

ParameterPlacement::~ParameterPlacement() { placement_device = previous_; }

at::TensorOptions ParameterPlacement::options() {
  return at::TensorOptions().dtype(at::kFloat).device(placement_device);
}

at::Tensor new_parameter(at::IntArrayRef shape) {
  return at::empty(shape, ParameterPlacement::options());
}

at::Tensor zero_parameter(at::IntArrayRef shape) {
  return at::zeros(shape, ParameterPlacement::options());
}

at::Tensor one_parameter(at::IntArrayRef shape) {
  return at::ones(shape, ParameterPlacement::options());
}

WeightImpl::WeightImpl(at::IntArrayRef shape) : WeightImpl(new_parameter(shape)) {}

WeightImpl::WeightImpl(const at::Tensor& value) { weight = register_parameter("weight", value); }

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim) {
  weight = register_parameter("weight", new_parameter({count, dim}));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) const {
  at::Tensor out = at::embedding(weight, ids);
  for (size_t k = 0; k < separate_ids_.size(); ++k) {
    const at::Tensor here = (ids == separate_ids_[k]).unsqueeze(-1);
    out = at::where(here, separate_[static_cast<int64_t>(k)].to(out.scalar_type()), out);
  }
  return out;
}

void EmbeddingImpl::separate_rows(const std::vector<int64_t>& ids) {
  VLM_CHECK(separate_ids_.empty(), InternalError, "the embedding already has separate rows");
  std::vector<at::Tensor> rows;
  for (const int64_t id : ids) {
    VLM_CHECK(id >= 0 && id < weight.size(0), ShapeError, "token id ", id,
              " is outside the embedding's ", weight.size(0), " rows");
    rows.push_back(weight.detach()[id]);
  }
  separate_ = register_module("added", Weight(at::stack(rows).clone()))->weight;
  separate_ids_ = ids;
}

void EmbeddingImpl::fold_separate_rows() {
  if (separate_ids_.empty()) return;
  {
    c10::NoGradGuard no_grad;
    for (size_t k = 0; k < separate_ids_.size(); ++k) {
      weight[separate_ids_[k]].copy_(separate_[static_cast<int64_t>(k)]);
    }
  }
  unregister_module("added");
  separate_ = at::Tensor();
  separate_ids_.clear();
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", one_parameter({dim}));
}

at::Tensor RmsNormImpl::forward(const at::Tensor& x) const {
  if (row_kernel_applies(x) && weight.scalar_type() == x.scalar_type() && weight.is_cpu()) {
    return FusedRmsNorm::apply(x.contiguous(), weight.contiguous(), eps_);
  }
  const bool low_precision = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
  const at::Tensor wide = low_precision ? x.to(at::kFloat) : x;
  const at::Tensor normed = wide * at::rsqrt(wide.square().mean(-1, /*keepdim=*/true) + eps_);
  return weight * (low_precision ? normed.to(x.scalar_type()) : normed);
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", one_parameter({dim}));
  bias = register_parameter("bias", zero_parameter({dim}));
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps_);
}

}  // namespace vlm::models
