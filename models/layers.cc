#include "models/layers.h"

namespace vlm::models {

WeightImpl::WeightImpl(at::IntArrayRef shape) : WeightImpl(at::empty(shape)) {}

WeightImpl::WeightImpl(const at::Tensor& value) { weight = register_parameter("weight", value); }

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim) {
  weight = register_parameter("weight", at::empty({count, dim}));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) const {
  return at::embedding(weight, ids);
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RmsNormImpl::forward(const at::Tensor& x) const {
  const bool low_precision = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
  const at::Tensor wide = low_precision ? x.to(at::kFloat) : x;
  const at::Tensor normed = wide * at::rsqrt(wide.square().mean(-1, /*keepdim=*/true) + eps_);
  return weight * (low_precision ? normed.to(x.scalar_type()) : normed);
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
  bias = register_parameter("bias", at::zeros({dim}));
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps_);
}

}  // namespace vlm::models
