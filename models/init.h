// Deterministic parameter initialisation from a seed, without touching torch's global RNG.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string_view>

namespace vlm::models::init {

// A generator for one named stream of a seed. Each model part draws from its own stream, so that
// changing one part's shape does not change another part's initial values.
at::Generator generator(uint64_t seed, std::string_view stream);

// In-place initialisers (they run under no-grad; the tensors may be parameters).
void normal(const at::Tensor& tensor, double std, at::Generator& gen);
void ones(const at::Tensor& tensor);
void zeros(const at::Tensor& tensor);
// torch.nn.Linear's default: kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), +...).
// fan_in is the product of every dimension but the first (as for Linear and Conv2d weights).
void kaiming_uniform(const at::Tensor& weight, at::Generator& gen);
// torch.nn.Linear's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void linear_bias(const at::Tensor& bias, int64_t fan_in, at::Generator& gen);

}  // namespace vlm::models::init
