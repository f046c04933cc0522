#include "models/layers.h"

#include <c10/core/GradMode.h>

#include "common/error.h"

namespace vlm::models {
namespace {

thread_local at::Device placement_device = at::kCPU;

}  // namespace

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
