#include "sharding/grad_norm.h"

#include <cmath>

namespace vlm::sharding {

double global_grad_norm(const std::vector<at::Tensor>& params) {
  double sum_squares = 0.0;
  for (const auto& p : params) {
    const at::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    sum_squares += grad.to(at::kDouble).pow(2).sum().item<double>();
  }
  return std::sqrt(sum_squares);
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  const double norm = global_grad_norm(params);
  if (max_norm <= 0 || !std::isfinite(norm) || norm <= max_norm) return norm;
  const double scale = max_norm / (norm + 1e-6);
  at::NoGradGuard no_grad;
  for (const auto& p : params) {
    if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

}  // namespace vlm::sharding
