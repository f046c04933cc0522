#include "sharding/adamw.h"

#include <cmath>

#include "common/error.h"

namespace vlm::sharding {

AdamW::AdamW(const recipes::OptimizerSection& options, std::vector<ParamGroup> groups)
    : options_(options), groups_(std::move(groups)) {
  for (const auto& group : groups_) {
    std::vector<at::Tensor> m, v;
    for (const auto& p : group.params) {
      VLM_CHECK(p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble, InternalError,
                "AdamW keeps master weights in fp32; group ", group.name, " has ", p.scalar_type());
      m.push_back(at::zeros_like(p));
      v.push_back(at::zeros_like(p));
    }
    exp_avg_.push_back(std::move(m));
    exp_avg_sq_.push_back(std::move(v));
  }
}

void AdamW::step(double lr) {
  ++steps_;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& group = groups_[g];
    for (size_t i = 0; i < group.params.size(); ++i) {
      const at::Tensor& p = group.params[i];
      if (!p.grad().defined()) continue;
      adamw_update(p, p.grad(), exp_avg_[g][i], exp_avg_sq_[g][i], options_, steps_,
                   lr * group.lr_scale, group.weight_decay);
    }
  }
}

void adamw_update(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg,
                  at::Tensor exp_avg_sq, const recipes::OptimizerSection& options, int64_t step,
                  double lr, double weight_decay) {
  at::NoGradGuard no_grad;
  const double bias1 = 1.0 - std::pow(options.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(options.beta2, static_cast<double>(step));
  exp_avg.mul_(options.beta1).add_(grad, 1.0 - options.beta1);
  exp_avg_sq.mul_(options.beta2).addcmul_(grad, grad, 1.0 - options.beta2);
  if (weight_decay > 0) param.mul_(1.0 - lr * weight_decay);
  const at::Tensor denom = (exp_avg_sq / bias2).sqrt_().add_(options.eps);
  param.addcdiv_(exp_avg, denom, -lr / bias1);
}

void AdamW::zero_grad() {
  for (auto& group : groups_) {
    for (auto& p : group.params) {
      if (p.grad().defined()) p.mutable_grad().reset();
    }
  }
}

std::vector<at::Tensor> AdamW::all_params() const {
  std::vector<at::Tensor> out;
  for (const auto& group : groups_) out.insert(out.end(), group.params.begin(), group.params.end());
  return out;
}

ParamSettings param_settings(const std::string& name, const at::Tensor& param,
                             const recipes::OptimizerSection& options) {
  ParamSettings settings;
  if (options.projector_lr > 0 && name.rfind("projector.", 0) == 0) {
    settings.lr_scale = options.projector_lr / options.lr;
  }
  if (param.dim() >= 2) settings.weight_decay = options.weight_decay;
  return settings;
}

std::vector<ParamGroup> make_param_groups(
    const std::vector<std::pair<std::string, at::Tensor>>& named_params,
    const recipes::OptimizerSection& options) {
  // Groups in a fixed order: decay, no decay, then the projector's two (when its lr differs).
  std::vector<ParamGroup> groups;
  const auto group_for = [&](const ParamSettings& settings, bool projector) -> ParamGroup& {
    const std::string name = std::string(projector ? "projector_" : "") +
                             (settings.weight_decay > 0 ? "decay" : "no_decay");
    for (auto& group : groups) {
      if (group.name == name) return group;
    }
    groups.push_back({name, {}, settings.lr_scale, settings.weight_decay});
    return groups.back();
  };
  for (const auto& [name, param] : named_params) {
    if (!param.requires_grad()) continue;
    const ParamSettings settings = param_settings(name, param, options);
    group_for(settings, settings.lr_scale != 1.0).params.push_back(param);
  }
  return groups;
}

}  // namespace vlm::sharding
