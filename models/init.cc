#include "models/init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "common/files.h"
#include "common/mix64.h"

namespace vlm::models::init {
namespace {

// Draws into a CPU tensor of the target's shape and copies it over: the values are a function of
// the seed alone, whatever device the model is built on. A meta tensor has no values to draw.
template <typename Draw>
void draw(const at::Tensor& tensor, Draw&& fill) {
  c10::NoGradGuard no_grad;
  if (tensor.is_meta()) return;
  if (tensor.is_cpu()) {
    fill(tensor);
    return;
  }
  const at::Tensor host = at::empty(tensor.sizes(), tensor.options().device(at::kCPU));
  fill(host);
  tensor.copy_(host);
}

}  // namespace

at::Generator generator(uint64_t seed, std::string_view stream) {
  return at::detail::createCPUGenerator(mix64(seed ^ files::fnv1a64(stream)));
}

void normal(const at::Tensor& tensor, double std, at::Generator& gen) {
  draw(tensor, [&](const at::Tensor& t) { t.normal_(0.0, std, gen); });
}

void ones(const at::Tensor& tensor) {
  c10::NoGradGuard no_grad;
  tensor.fill_(1.0);
}

void zeros(const at::Tensor& tensor) {
  c10::NoGradGuard no_grad;
  tensor.zero_();
}

void kaiming_uniform(const at::Tensor& weight, at::Generator& gen) {
  const int64_t fan_in = weight.numel() / weight.size(0);
  linear_bias(weight, fan_in, gen);
}

void linear_bias(const at::Tensor& bias, int64_t fan_in, at::Generator& gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  draw(bias, [&](const at::Tensor& t) { t.uniform_(-bound, bound, gen); });
}

}  // namespace vlm::models::init
