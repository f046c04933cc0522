// AdamW over groups of fp32 parameters (decoupled weight decay, bias correction). This is the
// world-size-1 optimizer; the ZeRO stages partition the same update over flat buffers.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::sharding {

struct ParamGroup {
  std::string name;
  std::vector<at::Tensor> params;
  double lr_scale = 1.0;  // lr of this group = scheduled lr * lr_scale
  double weight_decay = 0.0;
};

class AdamW {
 public:
  AdamW(const recipes::OptimizerSection& options, std::vector<ParamGroup> groups);

  // One update with the scheduled learning rate; parameters without a gradient are skipped.
  void step(double lr);
  void zero_grad();
  int64_t steps_taken() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::vector<at::Tensor> all_params() const;

 private:
  recipes::OptimizerSection options_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<at::Tensor>> exp_avg_;  // per group, per param
  std::vector<std::vector<at::Tensor>> exp_avg_sq_;
  int64_t steps_ = 0;
};

// One parameter's optimizer settings, as RECIPES.md asks: no weight decay on biases and norms
// (1-D tensors); parameters whose name starts with "projector." get projector_lr when set.
struct ParamSettings {
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};
ParamSettings param_settings(const std::string& name, const at::Tensor& param,
                             const recipes::OptimizerSection& options);

// The AdamW update of one stretch of parameters, in place (shared with the sharded engine, so
// both compute the same numbers element by element). step counts from 1. `rounded`, when given,
// receives the updated parameters in its own (lower) precision in the same pass: the copy a
// model computing in bf16 uses.
void adamw_update(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg,
                  at::Tensor exp_avg_sq, const recipes::OptimizerSection& options, int64_t step,
                  double lr, double weight_decay, at::Tensor rounded = at::Tensor());

// The sum of the squares of a flat fp32 tensor's elements, accumulated in fp64 in a fixed order
// (so every rank and every run gets the same bits for the same values).
double sum_of_squares(const at::Tensor& flat);

// Groups a model's trainable parameters the way RECIPES.md asks: no weight decay on biases and
// norms (1-D tensors); parameters whose name starts with "projector." get projector_lr when set.
std::vector<ParamGroup> make_param_groups(
    const std::vector<std::pair<std::string, at::Tensor>>& named_params,
    const recipes::OptimizerSection& options);

}  // namespace vlm::sharding
