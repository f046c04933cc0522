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
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& group = groups_[g];
    const double group_lr = lr * group.lr_scale;
    for (size_t i = 0; i < group.params.size(); ++i) {
      at::Tensor p = group.params[i];
      const at::Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      at::NoGradGuard no_grad;
      at::Tensor& m = exp_avg_[g][i];
      at::Tensor& v = exp_avg_sq_[g][i];
      m.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
      v.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
      if (group.weight_decay > 0) p.mul_(1.0 - group_lr * group.weight_decay);
      const at::Tensor denom = (v / bias2).sqrt_().add_(options_.eps);
      p.addcdiv_(m, denom, -group_lr / bias1);
    }
  }
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

std::vector<ParamGroup> make_param_groups(
    const std::vector<std::pair<std::string, at::Tensor>>& named_params,
    const recipes::OptimizerSection& options) {
  const double projector_scale = options.projector_lr > 0 ? options.projector_lr / options.lr : 1.0;
  ParamGroup decay{"decay", {}, 1.0, options.weight_decay};
  ParamGroup no_decay{"no_decay", {}, 1.0, 0.0};
  ParamGroup projector_decay{"projector_decay", {}, projector_scale, options.weight_decay};
  ParamGroup projector_no_decay{"projector_no_decay", {}, projector_scale, 0.0};
  for (const auto& [name, param] : named_params) {
    if (!param.requires_grad()) continue;
    const bool is_projector = name.rfind("projector.", 0) == 0;
    const bool decays = param.dim() >= 2;
    ParamGroup& group = is_projector ? (decays ? projector_decay : projector_no_decay)
                                     : (decays ? decay : no_decay);
    group.params.push_back(param);
  }
  std::vector<ParamGroup> groups;
  for (auto* group : {&decay, &no_decay, &projector_decay, &projector_no_decay}) {
    if (!group->params.empty()) groups.push_back(std::move(*group));
  }
  return groups;
}

}  // namespace vlm::sharding
