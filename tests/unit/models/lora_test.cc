#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include "common/error.h"
#include "models/init.h"
#include "models/lora.h"
#include "models/model.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

ModelInputs text_inputs() {
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, 5, 9, 2, 3, 4, 8, 7}).view({2, 4});
  return inputs;
}

void randomize_lora_b(VisionLanguageModel& model) {
  at::Generator gen = init::generator(99, "test");
  c10::NoGradGuard no_grad;
  for (auto& [name, param] : model.named_parameters()) {
    if (name.find("lora_B") != std::string::npos) param.normal_(0.0, 0.05, gen);
  }
}

TEST(Lora, AddsFactorsNextToTheTargetedWeights) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  lora.targets = {"q_proj", "down_proj"};
  model.add_lora(lora, 3);
  EXPECT_TRUE(model.has_lora());
  std::map<std::string, at::Tensor> params;
  for (auto& [name, p] : model.named_parameters()) params[name] = p;
  const std::string q = "llm.model.layers.1.self_attn.q_proj.";
  ASSERT_TRUE(params.count(q + "lora_A.weight"));
  EXPECT_EQ(params[q + "lora_A.weight"].sizes(), at::IntArrayRef({4, 32}));
  EXPECT_EQ(params[q + "lora_B.weight"].sizes(), at::IntArrayRef({32, 4}));
  EXPECT_EQ(params["llm.model.layers.0.mlp.down_proj.lora_A.weight"].sizes(),
            at::IntArrayRef({4, 48}));
  EXPECT_FALSE(params.count("llm.model.layers.0.self_attn.k_proj.lora_A.weight"));
  EXPECT_FALSE(params.count("llm.lm_head.lora_A.weight"));
  EXPECT_EQ(at::count_nonzero(params[q + "lora_B.weight"]).item<int64_t>(), 0);
  // kaiming-uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))
  const at::Tensor a = params[q + "lora_A.weight"];
  EXPECT_LE(a.abs().max().item<float>(), 1.0 / std::sqrt(32.0));
  EXPECT_GT(a.abs().max().item<float>(), 0.8 / std::sqrt(32.0));
  // The LoRA factors follow the weight they adapt.
  const auto names = testkit::names_of(model.named_parameters());
  const auto at_weight = std::find(names.begin(), names.end(), q + "weight");
  ASSERT_NE(at_weight, names.end());
  EXPECT_EQ(*(at_weight + 1), q + "lora_A.weight");
  EXPECT_EQ(*(at_weight + 2), q + "lora_B.weight");

  EXPECT_THROW(model.add_lora(lora, 3), ConfigError);
  VisionLanguageModel other(testkit::small_model(), 10, 1);
  lora.targets = {"qkv"};
  EXPECT_THROW(other.add_lora(lora, 3), ConfigError);
}

TEST(Lora, ZeroBLeavesTheModelUnchanged) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  model.train(false);
  const at::Tensor before = model.forward(text_inputs()).logits;
  recipes::LoraConfig lora;
  lora.rank = 4;
  model.add_lora(lora, 3);
  EXPECT_TRUE(at::equal(model.forward(text_inputs()).logits, before));
}

TEST(Lora, MergedEqualsUnmerged) {
  VisionLanguageModel model(testkit::small_model(true, 2), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 16;
  model.add_lora(lora, 3);
  randomize_lora_b(model);
  model.train(false);
  const at::Tensor base_free = model.forward(text_inputs()).logits;
  model.merge_lora();
  EXPECT_FALSE(model.has_lora());
  for (const auto& name : testkit::names_of(model.named_parameters())) {
    EXPECT_EQ(name.find("lora_"), std::string::npos) << name;
  }
  const at::Tensor merged = model.forward(text_inputs()).logits;
  EXPECT_LT((merged - base_free).abs().max().item<float>(), 1e-5);
}

TEST(Lora, DropoutOnlyInTrainMode) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 4;
  lora.dropout = 0.5;
  model.add_lora(lora, 3);
  randomize_lora_b(model);
  model.train(false);
  const at::Tensor a = model.forward(text_inputs()).logits;
  EXPECT_TRUE(at::equal(model.forward(text_inputs()).logits, a));
  model.train(true);
  EXPECT_FALSE(at::equal(model.forward(text_inputs()).logits, a));
}

TEST(Lora, DropoutKeepsOneMinusPAndScalesByItsInverse) {
  const at::Tensor ones = at::ones({999, 257});  // 256,743 elements: the last word is partly used
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  const auto state = generator.get_state();
  const at::Tensor dropped = lora_dropout(ones, 0.05);
  const double zeros = (dropped == 0).sum().item<double>() / static_cast<double>(ones.numel());
  EXPECT_NEAR(zeros, 0.05, 0.003);
  const at::Tensor kept = dropped.masked_select(dropped != 0);
  EXPECT_TRUE(at::allclose(kept, at::full_like(kept, 1.0 / 0.95)));
  // The generator's state fixes the mask (resume and recomputation restore it).
  generator.set_state(state);
  EXPECT_TRUE(at::equal(lora_dropout(ones, 0.05), dropped));
  EXPECT_FALSE(at::equal(lora_dropout(ones, 0.05), dropped));
}

TEST(Lora, RankZeroDoesNothing) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  const size_t count = model.named_parameters().size();
  model.add_lora(recipes::LoraConfig{}, 3);
  EXPECT_EQ(model.named_parameters().size(), count);
  EXPECT_FALSE(model.has_lora());
}

}  // namespace
}  // namespace vlm::models
