// Our AdamW against LibTorch's own torch::optim::AdamW on the same parameters and gradients.
#include "sharding/adamw.h"

#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include "sharding/grad_norm.h"

namespace vlm::sharding {
namespace {

TEST(AdamW, MatchesTorchAdamWOverSeveralSteps) {
  recipes::OptimizerSection options;
  options.lr = 1e-2;
  options.weight_decay = 0.1;
  at::manual_seed(3);
  at::Tensor ours = at::randn({5, 7}).requires_grad_();
  at::Tensor theirs = ours.detach().clone().requires_grad_();
  AdamW adamw(options, {ParamGroup{"w", {ours}, 1.0, options.weight_decay}});
  torch::optim::AdamW reference(
      std::vector<at::Tensor>{theirs},
      torch::optim::AdamWOptions(options.lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    const at::Tensor grad = at::randn({5, 7});
    ours.mutable_grad() = grad.clone();
    theirs.mutable_grad() = grad.clone();
    adamw.step(options.lr);
    reference.step();
  }
  EXPECT_TRUE(at::allclose(ours, theirs, 1e-6, 1e-7));
}

TEST(AdamW, NoDecayForBiasesAndNormsAndProjectorLr) {
  recipes::OptimizerSection options;
  options.lr = 2e-4;
  options.projector_lr = 2e-5;
  options.weight_decay = 0.1;
  std::vector<std::pair<std::string, at::Tensor>> named = {
      {"llm.model.layers.0.mlp.up_proj.weight", at::zeros({4, 4}).requires_grad_()},
      {"llm.model.norm.weight", at::zeros({4}).requires_grad_()},
      {"projector.0.weight", at::zeros({4, 4}).requires_grad_()},
      {"vision.frozen.weight", at::zeros({4, 4})}};
  const auto groups = make_param_groups(named, options);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].name, "decay");
  EXPECT_DOUBLE_EQ(groups[0].weight_decay, 0.1);
  EXPECT_EQ(groups[1].name, "no_decay");
  EXPECT_DOUBLE_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[2].name, "projector_decay");
  EXPECT_DOUBLE_EQ(groups[2].lr_scale, 0.1);
}

TEST(GradNorm, ClipsToTheGlobalNorm) {
  at::Tensor a = at::zeros({2}).requires_grad_();
  at::Tensor b = at::zeros({1}).requires_grad_();
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  EXPECT_DOUBLE_EQ(global_grad_norm({a, b}), 5.0);
  const double before = clip_grad_norm({a, b}, 1.0);
  EXPECT_DOUBLE_EQ(before, 5.0);
  EXPECT_NEAR(global_grad_norm({a, b}), 1.0, 1e-6);
}

}  // namespace
}  // namespace vlm::sharding
