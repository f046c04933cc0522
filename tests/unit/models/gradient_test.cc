// Autograd gradients against central finite differences, in double precision, for every
// building block and for the whole model (which covers the image splicing).
#include <gtest/gtest.h>

#include "models/attention.h"
#include "models/attention_mask.h"
#include "models/init.h"
#include "models/llm.h"
#include "models/lora.h"
#include "models/model.h"
#include "models/model_impl.h"
#include "models/projector.h"
#include "models/vision.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

using testkit::expect_gradients_match;
using testkit::probe;

const auto kDouble = at::TensorOptions().dtype(at::kDouble);

// Causal + a bidirectional block (row 0, positions 1..3) + right padding (row 1 has 4 of 6).
at::Tensor mixed_mask() {
  return build_attention_mask(2, 6, {6, 4}, {{0, 1, 3}, {1, 0, 2}}, at::kDouble);
}

at::Tensor random(at::IntArrayRef shape, at::Generator& gen, bool requires_grad = false) {
  return at::randn(shape, gen, kDouble).requires_grad_(requires_grad);
}

std::vector<std::pair<std::string, at::Tensor>> pick(torch::nn::Module& module,
                                                     const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const auto params = module.named_parameters();
  for (const auto& name : names) {
    const at::Tensor* found = params.find(name);
    EXPECT_NE(found, nullptr) << name;
    if (found != nullptr) out.emplace_back(name, *found);
  }
  return out;
}

TEST(Gradients, MaskedAttentionWithGroupedHeads) {
  at::Generator gen = init::generator(1, "test");
  const at::Tensor q = random({2, 6, 4, 3}, gen, true);
  const at::Tensor k = random({2, 6, 2, 3}, gen, true);
  const at::Tensor v = random({2, 6, 2, 3}, gen, true);
  const at::Tensor mask = mixed_mask();
  const at::Tensor weights = random({2, 6, 12}, gen);
  const auto report =
      expect_gradients_match([&] { return probe(attention(q, k, v, mask), weights); },
                             {{"q", q}, {"k", k}, {"v", v}}, 12, 7);
  EXPECT_EQ(report.checked, 36);
}

void check_decoder(bool qkv_bias, int64_t kv_heads, bool with_position_ids) {
  recipes::LlmConfig config;
  config.hidden_size = 16;
  config.intermediate_size = 24;
  config.num_layers = 2;
  config.num_heads = 4;
  config.num_kv_heads = kv_heads;
  config.qkv_bias = qkv_bias;
  config.init_std = 0.3;
  CausalLm llm(config, 11);
  at::Generator gen = init::generator(2, "llm");
  llm->initialize(gen);
  llm->to(at::kDouble);
  if (qkv_bias) {
    c10::NoGradGuard no_grad;
    llm->model->layers[0]->self_attn->k_proj->bias.normal_(0.0, 0.3, gen);
  }
  const at::Tensor embeds = random({2, 6, 16}, gen, true);
  const at::Tensor positions = with_position_ids
                                   ? at::tensor({3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5}).view({2, 6})
                                   : at::Tensor();
  const at::Tensor mask = mixed_mask();
  const at::Tensor weights = random({2, 6, 11}, gen);
  auto loss = [&] {
    return probe(llm->logits(llm->run(embeds, positions, mask, false).last_hidden), weights);
  };
  std::vector<std::string> names = {"model.layers.0.self_attn.q_proj.weight",
                                    "model.layers.0.self_attn.k_proj.weight",
                                    "model.layers.1.self_attn.v_proj.weight",
                                    "model.layers.1.self_attn.o_proj.weight",
                                    "model.layers.0.mlp.gate_proj.weight",
                                    "model.layers.1.mlp.up_proj.weight",
                                    "model.layers.0.mlp.down_proj.weight",
                                    "model.layers.0.input_layernorm.weight",
                                    "model.layers.1.post_attention_layernorm.weight",
                                    "model.norm.weight",
                                    "lm_head.weight"};
  if (qkv_bias) {
    names.insert(names.end(),
                 {"model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.bias",
                  "model.layers.1.self_attn.v_proj.bias"});
  }
  auto tensors = pick(*llm, names);
  tensors.emplace_back("input embeddings", embeds);
  expect_gradients_match(loss, tensors, 4, 11);
}

TEST(Gradients, Decoder) { check_decoder(false, 0, false); }
TEST(Gradients, DecoderWithGqaAndQkvBias) { check_decoder(true, 2, false); }
TEST(Gradients, DecoderWithPositionIds) { check_decoder(false, 1, true); }

TEST(Gradients, VisionTransformerHiddenStates) {
  recipes::VisionConfig config;
  config.image_size = 8;
  config.patch_size = 4;
  config.hidden_size = 8;
  config.intermediate_size = 16;
  config.num_layers = 2;
  config.num_heads = 2;
  config.init_std = 0.3;
  ClipVision vit(config);
  at::Generator gen = init::generator(3, "vision");
  vit->initialize(gen);
  vit->to(at::kDouble);
  {
    c10::NoGradGuard no_grad;  // non-trivial norms and biases, so their gradients are tested
    for (auto& p : vit->parameters()) {
      if (p.dim() == 1) p.normal_(0.5, 0.3, gen);
    }
  }
  const at::Tensor pixels = random({2, 3, 8, 8}, gen, true);
  const at::Tensor weights = random({3, 2, 5, 8}, gen);
  auto loss = [&] {
    const auto states = vit->hidden_states(pixels);
    return probe(at::stack(states), weights) + vit->features(pixels).square().sum();
  };
  auto tensors = pick(
      *vit,
      {"vision_model.embeddings.class_embedding", "vision_model.embeddings.patch_embedding.weight",
       "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm.weight",
       "vision_model.pre_layrnorm.bias", "vision_model.encoder.layers.0.self_attn.q_proj.weight",
       "vision_model.encoder.layers.0.self_attn.k_proj.bias",
       "vision_model.encoder.layers.1.self_attn.v_proj.weight",
       "vision_model.encoder.layers.1.self_attn.out_proj.bias",
       "vision_model.encoder.layers.0.layer_norm1.weight",
       "vision_model.encoder.layers.1.layer_norm2.bias",
       "vision_model.encoder.layers.0.mlp.fc1.weight",
       "vision_model.encoder.layers.1.mlp.fc2.weight"});
  tensors.emplace_back("pixels", pixels);
  expect_gradients_match(loss, tensors, 4, 13);
}

TEST(Gradients, Projectors) {
  for (const auto type : {recipes::ProjectorType::kMlp2xGelu, recipes::ProjectorType::kLinear}) {
    Projector projector(type, 6, 5);
    at::Generator gen = init::generator(4, "projector");
    projector->initialize(gen);
    projector->to(at::kDouble);
    const at::Tensor features = random({3, 4, 6}, gen, true);
    const at::Tensor weights = random({3, 4, 5}, gen);
    auto tensors = pick(*projector,
                        type == recipes::ProjectorType::kLinear
                            ? std::vector<std::string>{"0.weight", "0.bias"}
                            : std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
    tensors.emplace_back("features", features);
    expect_gradients_match([&] { return probe(projector(features), weights); }, tensors, 6, 17);
  }
}

TEST(Gradients, LoraLinear) {
  Linear linear(6, 5, true);
  at::Generator gen = init::generator(5, "lora");
  linear->init_normal(0.5, gen);
  linear->add_lora(3, 6.0, 0.0, gen);
  linear->to(at::kDouble);
  {
    c10::NoGradGuard no_grad;
    linear->named_parameters()["lora_B.weight"].normal_(0.0, 0.5, gen);
    linear->bias.normal_(0.0, 0.5, gen);
  }
  const at::Tensor x = random({4, 6}, gen, true);
  const at::Tensor weights = random({4, 5}, gen);
  auto tensors = pick(*linear, {"weight", "bias", "lora_A.weight", "lora_B.weight"});
  tensors.emplace_back("x", x);
  expect_gradients_match([&] { return probe(linear(x), weights); }, tensors, 6, 19);
}

// The whole model: gradients reach the projector through the spliced image positions.
TEST(Gradients, WholeModelThroughImageSlots) {
  recipes::ModelSection config = testkit::small_model(true, 2);
  config.llm.init_std = 0.3;
  config.vision.init_std = 0.3;
  VisionLanguageModel model(config, 13, 21);
  model.module().to(at::kDouble);
  model.set_trainable({"projector", "llm"});
  at::Generator gen = init::generator(6, "test");
  const int64_t s = kImageSlot;
  ModelInputs inputs;
  inputs.input_ids =
      at::tensor(std::vector<int64_t>{1, s, s, s, s, 2, 3, 4, 5, 6, 7, s, s, s, s, 0}).view({2, 8});
  inputs.images = at::randn({2, 3, 16, 16}, gen, kDouble);
  inputs.attention_mask = build_attention_mask(2, 8, {8, 7}, {{0, 1, 4}, {1, 3, 4}}, at::kDouble);
  const at::Tensor weights = random({2, 8, 13}, gen);
  auto loss = [&] { return probe(model.forward(inputs).logits, weights); };
  auto& root = model.module();
  auto tensors =
      pick(root, {"projector.0.weight", "projector.2.bias", "llm.model.embed_tokens.weight",
                  "llm.model.layers.1.self_attn.q_proj.weight"});
  expect_gradients_match(loss, tensors, 5, 23);
  EXPECT_FALSE(root.named_parameters()["vision.vision_model.encoder.layers.0.mlp.fc1.weight"]
                   .grad()
                   .defined());
}

}  // namespace
}  // namespace vlm::models
