// LLaVA's masked cross entropy and VDEP's hybrid loss against an independent computation: the
// tiny model's weights, one batch and our loss terms and gradients go to safetensors files, and
// tests/reference/llava_vdep.py recomputes them in plain torch (Debian's python3).
#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <string>

#include "models/attention_mask.h"
#include "models/init.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/support/python_check.h"
#include "tests/support/temp_dir.h"
#include "worker/objective.h"

namespace vlm::worker {
namespace {

constexpr int64_t kVocab = 20;
constexpr int64_t kAutoImage = 19;  // the added "<auto_image>" id
constexpr int64_t S = models::kImageSlot;
constexpr int64_t X = models::kIgnoreLabel;

recipes::ModelSection tiny_model() {
  recipes::ModelSection model;
  model.llm.hidden_size = 16;
  model.llm.intermediate_size = 24;
  model.llm.num_layers = 2;
  model.llm.num_heads = 4;
  model.llm.num_kv_heads = 2;
  model.llm.init_std = 0.3;
  model.vision.image_size = 16;
  model.vision.patch_size = 8;  // 4 image tokens
  model.vision.hidden_size = 8;
  model.vision.intermediate_size = 16;
  model.vision.num_layers = 2;
  model.vision.num_heads = 2;
  model.vision.feature_layer = -2;
  model.vision.init_std = 0.3;
  return model;
}

at::Tensor longs(std::vector<int64_t> values, at::IntArrayRef shape) {
  return at::tensor(values, at::kLong).reshape(shape);
}

// Row 0 is a VDEP-mode caption (<auto_image> before its image), row 1 a LLaVA-mode caption
// followed by padding.
TensorBatch hybrid_batch() {
  TensorBatch batch;
  batch.inputs.input_ids = longs({1, kAutoImage, S, S, S, S, 5, 6, 7, 2,  //
                                  1, S,          S, S, S, 8, 9, 2, 0, 0},
                                 {2, 10});
  batch.labels = longs({X, X, X, X, X, X, 5, 6, 7, 2,  //
                        X, X, X, X, X, 8, 9, 2, X, X},
                       {2, 10});
  at::Generator gen = models::init::generator(3, "images");
  batch.inputs.images = at::randn({2, 3, 16, 16}, gen, at::kDouble);
  batch.inputs.attention_mask = models::build_attention_mask(2, 10, {10, 8}, {}, at::kDouble);
  batch.label_tokens = 7;
  batch.image_spans = {{0, 2, 4}, {1, 1, 4}};
  batch.vdep_rows = {1, 0};
  return batch;
}

struct Case {
  std::string objective;
  int64_t shift = 1;
};

void check_against_reference(const Case& c) {
  models::VisionLanguageModel model(tiny_model(), kVocab, 11);
  model.module().to(at::kDouble);
  if (c.objective == "vdep") model.separate_token_embeddings({kAutoImage});
  // Projector and added row as the recipe trains them, the LLM too so its gradients are checked.
  std::vector<std::string> trainable = {"projector", "llm"};
  if (c.objective == "vdep") trainable.push_back("added_tokens");
  model.set_trainable(trainable);
  {
    c10::NoGradGuard no_grad;  // norms and biases away from their trivial starting values
    at::Generator gen = models::init::generator(5, "perturb");
    for (auto& [name, param] : model.named_parameters()) {
      if (param.dim() == 1) param.add_(at::randn(param.sizes(), gen, at::kDouble) * 0.2);
    }
  }
  recipes::Stage stage;
  stage.objective = c.objective == "vdep" ? &kVdepObjective : &kLlavaObjective;
  stage.vdep.shift = c.shift;
  stage.vdep.alpha = 0.5;  // large enough that the image term moves the gradients visibly
  const auto objective = make_objective(stage, model);
  const TensorBatch batch = hybrid_batch();
  const models::ModelOutputs outputs = model.forward(batch.inputs);
  const std::vector<at::Tensor> sums = objective->sums(model, outputs, batch);
  const std::vector<double> counts = objective->counts(batch);
  at::Tensor loss = sums[0] * (objective->weights()[0] / counts[0]);
  for (size_t t = 1; t < sums.size(); ++t)
    loss = loss + sums[t] * (objective->weights()[t] / counts[t]);
  loss.backward();

  models::NamedTensors inputs, expected;
  for (const auto& [name, param] : model.named_parameters()) {
    inputs.emplace_back(name, param.detach());
    if (param.grad().defined()) expected.emplace_back("grad." + name, param.grad());
  }
  inputs.emplace_back("input_ids", batch.inputs.input_ids);
  inputs.emplace_back("labels", batch.labels);
  inputs.emplace_back("images", batch.inputs.images);
  inputs.emplace_back("attention_mask", batch.inputs.attention_mask);
  expected.emplace_back("loss", loss.detach().reshape({1}));
  for (size_t t = 0; t < sums.size(); ++t) {
    expected.emplace_back("term." + objective->terms()[t],
                          (sums[t].detach() / counts[t]).reshape({1}));
  }
  vlm::testing::TempDir dir;
  models::write_safetensors(dir.file("inputs.safetensors"), inputs);
  models::write_safetensors(dir.file("expected.safetensors"), expected);
  const auto result = vlm::testing::run_python(
      VLM_SOURCE_DIR "/tests/reference/llava_vdep.py",
      {dir.path(), c.objective, std::to_string(c.shift), "0.5", "4", "2", "2"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::cout << result.output;
}

TEST(ObjectiveReference, LlavaMaskedCrossEntropy) { check_against_reference({"llava", 0}); }
TEST(ObjectiveReference, VdepImageL2WithShiftZero) { check_against_reference({"vdep", 0}); }
TEST(ObjectiveReference, VdepImageL2WithShiftOne) { check_against_reference({"vdep", 1}); }

}  // namespace
}  // namespace vlm::worker
