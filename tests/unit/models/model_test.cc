#include "models/model.h"

#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <map>
#include <set>

#include "common/error.h"
#include "models/attention_mask.h"
#include "models/init.h"
#include "models/model_impl.h"
#include "models/vision.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

constexpr int64_t S = kImageSlot;

std::map<std::string, at::Tensor> params_of(const VisionLanguageModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, p] : model.named_parameters()) out[name] = p;
  return out;
}

TEST(Model, ParameterNamesFollowHuggingFace) {
  recipes::ModelSection config = testkit::small_model(true);
  config.llm.num_layers = 1;
  config.vision.num_layers = 1;
  VisionLanguageModel model(config, 10, 1);
  const std::vector<std::string> expected = {
      "vision.vision_model.embeddings.class_embedding",
      "vision.vision_model.embeddings.patch_embedding.weight",
      "vision.vision_model.embeddings.position_embedding.weight",
      "vision.vision_model.pre_layrnorm.weight",
      "vision.vision_model.pre_layrnorm.bias",
      "vision.vision_model.encoder.layers.0.self_attn.k_proj.weight",
      "vision.vision_model.encoder.layers.0.self_attn.k_proj.bias",
      "vision.vision_model.encoder.layers.0.self_attn.v_proj.weight",
      "vision.vision_model.encoder.layers.0.self_attn.v_proj.bias",
      "vision.vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "vision.vision_model.encoder.layers.0.self_attn.q_proj.bias",
      "vision.vision_model.encoder.layers.0.self_attn.out_proj.weight",
      "vision.vision_model.encoder.layers.0.self_attn.out_proj.bias",
      "vision.vision_model.encoder.layers.0.layer_norm1.weight",
      "vision.vision_model.encoder.layers.0.layer_norm1.bias",
      "vision.vision_model.encoder.layers.0.mlp.fc1.weight",
      "vision.vision_model.encoder.layers.0.mlp.fc1.bias",
      "vision.vision_model.encoder.layers.0.mlp.fc2.weight",
      "vision.vision_model.encoder.layers.0.mlp.fc2.bias",
      "vision.vision_model.encoder.layers.0.layer_norm2.weight",
      "vision.vision_model.encoder.layers.0.layer_norm2.bias",
      "vision.vision_model.post_layernorm.weight",
      "vision.vision_model.post_layernorm.bias",
      "projector.0.weight",
      "projector.0.bias",
      "projector.2.weight",
      "projector.2.bias",
      "llm.model.embed_tokens.weight",
      "llm.model.layers.0.self_attn.q_proj.weight",
      "llm.model.layers.0.self_attn.q_proj.bias",
      "llm.model.layers.0.self_attn.k_proj.weight",
      "llm.model.layers.0.self_attn.k_proj.bias",
      "llm.model.layers.0.self_attn.v_proj.weight",
      "llm.model.layers.0.self_attn.v_proj.bias",
      "llm.model.layers.0.self_attn.o_proj.weight",
      "llm.model.layers.0.mlp.gate_proj.weight",
      "llm.model.layers.0.mlp.up_proj.weight",
      "llm.model.layers.0.mlp.down_proj.weight",
      "llm.model.layers.0.input_layernorm.weight",
      "llm.model.layers.0.post_attention_layernorm.weight",
      "llm.model.norm.weight",
      "llm.lm_head.weight"};
  EXPECT_EQ(testkit::names_of(model.named_parameters()), expected);
  auto p = params_of(model);
  EXPECT_EQ(p["vision.vision_model.embeddings.patch_embedding.weight"].sizes(),
            at::IntArrayRef({16, 3, 8, 8}));
  EXPECT_EQ(p["vision.vision_model.embeddings.position_embedding.weight"].sizes(),
            at::IntArrayRef({5, 16}));
  EXPECT_EQ(p["projector.0.weight"].sizes(), at::IntArrayRef({32, 16}));
  EXPECT_EQ(p["llm.lm_head.weight"].sizes(), at::IntArrayRef({10, 32}));
}

TEST(Model, TiedEmbeddingsHaveNoHeadWeight) {
  recipes::ModelSection config = testkit::small_model();
  config.llm.tie_word_embeddings = true;
  config.llm.num_kv_heads = 2;
  VisionLanguageModel model(config, 10, 1);
  auto p = params_of(model);
  EXPECT_FALSE(p.count("llm.lm_head.weight"));
  EXPECT_EQ(p["llm.model.layers.0.self_attn.k_proj.weight"].sizes(), at::IntArrayRef({16, 32}));
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, 2, 3}).view({1, 3});
  const ModelOutputs out = model.forward(inputs);
  EXPECT_TRUE(at::allclose(out.logits,
                           at::matmul(out.last_hidden, p["llm.model.embed_tokens.weight"].t())));
  model.set_trainable({"lm_head"});
  EXPECT_TRUE(p["llm.model.embed_tokens.weight"].requires_grad());
}

TEST(Model, ShardingUnitsCoverEveryParameterOnce) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 2;
  model.add_lora(lora, 1);
  const auto units = model.sharding_units();
  std::vector<std::string> unit_names;
  std::map<std::string, int> seen;
  for (const auto& unit : units) {
    unit_names.push_back(unit.name);
    for (const auto& name : unit.param_names) ++seen[name];
  }
  EXPECT_EQ(unit_names, (std::vector<std::string>{"vision", "projector", "llm.embed_tokens",
                                                  "llm.layers.0", "llm.layers.1", "llm.head"}));
  const auto all = testkit::names_of(model.named_parameters());
  EXPECT_EQ(seen.size(), all.size());
  for (const auto& name : all) EXPECT_EQ(seen[name], 1) << name;
  EXPECT_EQ(units[5].param_names,
            (std::vector<std::string>{"llm.model.norm.weight", "llm.lm_head.weight"}));
  EXPECT_NE(std::find(units[3].param_names.begin(), units[3].param_names.end(),
                      "llm.model.layers.0.mlp.up_proj.lora_B.weight"),
            units[3].param_names.end());
}

TEST(Model, SetTrainableSelectsGroups) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 2;
  model.add_lora(lora, 1);
  auto trainable = [&] {
    std::set<std::string> out;
    for (const auto& [name, p] : model.named_parameters()) {
      if (p.requires_grad()) out.insert(name);
    }
    return out;
  };
  model.set_trainable({"projector"});
  EXPECT_EQ(trainable(), (std::set<std::string>{"projector.0.weight", "projector.0.bias",
                                                "projector.2.weight", "projector.2.bias"}));
  model.set_trainable({"lora", "embed_tokens", "lm_head"});
  for (const auto& name : trainable()) {
    EXPECT_TRUE(name.find("lora_") != std::string::npos || name == "llm.lm_head.weight" ||
                name == "llm.model.embed_tokens.weight")
        << name;
  }
  EXPECT_EQ(trainable().size(), 2u + 2u * 2u * 7u);
  model.set_trainable({"llm", "vision"});
  for (const auto& name : trainable()) EXPECT_EQ(name.find("lora_"), std::string::npos) << name;
  EXPECT_TRUE(trainable().count("vision.vision_model.post_layernorm.bias"));
  EXPECT_THROW(model.set_trainable({"decoder"}), ConfigError);
  VisionLanguageModel plain(testkit::small_model(), 10, 1);
  EXPECT_THROW(plain.set_trainable({"lora"}), ConfigError);
}

TEST(Model, InitialisationIsDeterministicAndPerPart) {
  const auto a = params_of(VisionLanguageModel(testkit::small_model(), 10, 7));
  const auto b = params_of(VisionLanguageModel(testkit::small_model(), 10, 7));
  const auto c = params_of(VisionLanguageModel(testkit::small_model(), 10, 8));
  recipes::ModelSection wider_vision = testkit::small_model();
  wider_vision.vision.hidden_size = 24;
  const auto d = params_of(VisionLanguageModel(wider_vision, 10, 7));
  for (const auto& [name, tensor] : a) {
    EXPECT_TRUE(at::equal(tensor, b.at(name))) << name;
    if (name.rfind("llm.", 0) == 0) {
      EXPECT_TRUE(at::equal(tensor, d.at(name))) << name;
    }
  }
  EXPECT_FALSE(
      at::equal(a.at("llm.model.embed_tokens.weight"), c.at("llm.model.embed_tokens.weight")));
  // Conventions: normal(0, init_std) weights, zero biases, unit norms.
  recipes::ModelSection big = testkit::small_model(true);
  big.llm.hidden_size = 128;
  big.llm.intermediate_size = 256;
  const auto e = params_of(VisionLanguageModel(big, 64, 1));
  EXPECT_NEAR(e.at("llm.model.layers.0.mlp.up_proj.weight").std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(e.at("llm.model.embed_tokens.weight").mean().item<double>(), 0.0, 0.002);
  EXPECT_EQ(at::count_nonzero(e.at("llm.model.layers.1.self_attn.q_proj.bias")).item<int64_t>(), 0);
  EXPECT_TRUE(at::equal(e.at("llm.model.norm.weight"), at::ones({128})));
  EXPECT_TRUE(
      at::equal(e.at("vision.vision_model.encoder.layers.0.layer_norm1.bias"), at::zeros({16})));
  const double bound = 1.0 / std::sqrt(16.0);  // projector.0: torch.nn.Linear default, fan_in 16
  EXPECT_LE(e.at("projector.0.weight").abs().max().item<double>(), bound);
  EXPECT_GT(e.at("projector.0.weight").abs().max().item<double>(), 0.9 * bound);
  EXPECT_LE(e.at("projector.0.bias").abs().max().item<double>(), bound);
  EXPECT_GT(e.at("projector.0.bias").abs().max().item<double>(), 0.0);
}

TEST(Model, SinCosPositionsAreFixedTwoDimensionalValues) {
  recipes::ModelSection config = testkit::small_model();
  config.vision.position_init = recipes::PositionInit::kSincos;
  config.vision.image_size = 24;  // a 3 x 3 grid
  VisionLanguageModel model(config, 10, 1);
  const at::Tensor table =
      params_of(model).at("vision.vision_model.embeddings.position_embedding.weight");
  ASSERT_EQ(table.sizes(), at::IntArrayRef({10, 16}));
  EXPECT_TRUE(at::equal(table[0], at::zeros({16})));
  // Patch 5 (table row 6, after CLS) is row 1, column 2. Dims 0..3: sin(r w_i), 4..7: cos(r
  // w_i), 8..15 the same for c, with w_i = 10000^(-i/4).
  for (int i = 0; i < 4; ++i) {
    const double w = std::pow(10000.0, -i / 4.0);
    EXPECT_NEAR(table[6][i].item<double>(), std::sin(1 * w), 1e-6);
    EXPECT_NEAR(table[6][4 + i].item<double>(), std::cos(1 * w), 1e-6);
    EXPECT_NEAR(table[6][8 + i].item<double>(), std::sin(2 * w), 1e-6);
    EXPECT_NEAR(table[6][12 + i].item<double>(), std::cos(2 * w), 1e-6);
  }
  EXPECT_TRUE(table.requires_grad());  // still a parameter (frozen or not by set_trainable)
  config.vision.hidden_size = 18;
  config.vision.num_heads = 3;
  EXPECT_THROW(VisionLanguageModel(config, 10, 1), ConfigError);
}

// Slots are filled in row-major order; text positions keep their token embeddings.
TEST(Model, ImagesLandExactlyInTheirSlots) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  ASSERT_EQ(model.image_tokens_per_image(), 4);
  const std::vector<int64_t> ids = {1, S, S, S, S, 2, S, S, S, S, 3, 4,   // two images
                                    5, 6, 7, S, S, S, S, 8, 9, 0, 0, 0};  // one image, padding
  ModelInputs inputs;
  inputs.input_ids = at::tensor(ids).view({2, 12});
  at::Generator gen = init::generator(5, "test");
  inputs.images = at::randn({3, 3, 16, 16}, gen);
  inputs.attention_mask = build_attention_mask(2, 12, {12, 9}, {{0, 1, 4}, {0, 6, 4}, {1, 3, 4}});
  const ModelOutputs out = model.forward(inputs, /*want_block_hiddens=*/true);
  ASSERT_EQ(out.image_embeds.sizes(), at::IntArrayRef({3, 4, 32}));
  const at::Tensor table = params_of(model).at("llm.model.embed_tokens.weight");
  int64_t image_token = 0;
  for (int64_t i = 0; i < 24; ++i) {
    const at::Tensor got = out.input_embeds.view({24, 32})[i];
    if (ids[i] == S) {
      const at::Tensor expected = out.image_embeds.view({12, 32})[image_token++];
      EXPECT_TRUE(at::equal(got, expected)) << "position " << i;
    } else {
      EXPECT_TRUE(at::equal(got, table[ids[i]])) << "position " << i;
    }
  }
  EXPECT_EQ(image_token, 12);
  EXPECT_EQ(out.logits.sizes(), at::IntArrayRef({2, 12, 10}));
  ASSERT_EQ(out.block_hiddens.size(), 2u);
  auto& llm = model.impl().llm;
  EXPECT_TRUE(at::allclose(out.last_hidden, llm->model->norm(out.block_hiddens[1])));

  // The image embeddings are the projector over the ViT's penultimate hidden state, CLS dropped.
  auto& vision = model.impl().vision;
  const at::Tensor features = vision->hidden_states(inputs.images)[1].narrow(1, 1, 4);
  EXPECT_TRUE(at::allclose(out.image_embeds, model.impl().projector(features)));
}

TEST(Model, SlotCountMismatchIsAShapeErrorWithBothNumbers) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, S, S, S, 2, 3}).view({1, 6});
  inputs.images = at::zeros({1, 3, 16, 16});
  try {
    model.forward(inputs);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("3 image slots"), std::string::npos) << message;
    EXPECT_NE(message.find("4 image tokens"), std::string::npos) << message;
  }
  inputs.images = at::Tensor();
  EXPECT_THROW(model.forward(inputs), ShapeError);
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, 10}).view({1, 2});
  EXPECT_THROW(model.forward(inputs), ShapeError);  // outside the vocabulary
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, 2}).view({1, 2});
  inputs.images = at::zeros({1, 3, 8, 8});
  EXPECT_THROW(model.forward(inputs), ShapeError);  // wrong image size
}

TEST(Model, FrozenVisionRunsWithoutGradAndProjectorLearns) {
  VisionLanguageModel model(testkit::small_model(), 10, 1);
  model.set_trainable({"projector"});
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, S, S, S, S, 2}).view({1, 6});
  inputs.images = at::randn({1, 3, 16, 16});
  const ModelOutputs out = model.forward(inputs);
  out.logits.sum().backward();
  auto p = params_of(model);
  EXPECT_GT(p.at("projector.0.weight").grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(p.at("vision.vision_model.embeddings.class_embedding").grad().defined());
  EXPECT_FALSE(p.at("llm.model.norm.weight").grad().defined());
}

TEST(Model, WithoutVisionTower) {
  recipes::ModelSection config = testkit::small_model();
  config.vision.type = recipes::VisionType::kNone;
  EXPECT_THROW(VisionLanguageModel(config, 10, 1), ConfigError);  // projector without vision
  config.projector.type = recipes::ProjectorType::kNone;
  VisionLanguageModel model(config, 10, 1);
  EXPECT_EQ(model.image_tokens_per_image(), 0);
  for (const auto& name : testkit::names_of(model.named_parameters())) {
    EXPECT_EQ(name.rfind("llm.", 0), 0u) << name;
  }
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{1, 2, 3}).view({1, 3});
  EXPECT_EQ(model.forward(inputs).logits.sizes(), at::IntArrayRef({1, 3, 10}));
  inputs.images = at::zeros({1, 3, 16, 16});
  EXPECT_THROW(model.forward(inputs), ShapeError);
  EXPECT_EQ(model.sharding_units().front().name, "llm.embed_tokens");
}

TEST(Model, ConfigErrorsNameTheKey) {
  auto message_of = [](const recipes::ModelSection& config) -> std::string {
    try {
      VisionLanguageModel model(config, 10, 1);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  recipes::ModelSection config = testkit::small_model();
  config.llm.num_kv_heads = 3;
  EXPECT_NE(message_of(config).find("model.llm.num_kv_heads"), std::string::npos);
  config = testkit::small_model();
  config.vision.feature_layer = -4;
  EXPECT_NE(message_of(config).find("model.vision.feature_layer"), std::string::npos);
  config = testkit::small_model();
  config.vision.patch_size = 5;
  EXPECT_NE(message_of(config).find("model.vision.patch_size"), std::string::npos);
  config = testkit::small_model();
  config.llm.vocab_size = 8;  // smaller than the tokenizer's 10
  EXPECT_NE(message_of(config).find("model.llm.vocab_size"), std::string::npos);
  EXPECT_THROW(VisionLanguageModel(testkit::small_model(), 0, 1), ConfigError);
}

TEST(Model, KeepsClsTokenWhenAsked) {
  recipes::ModelSection config = testkit::small_model();
  config.vision.drop_cls = false;
  config.vision.feature_layer = 2;
  VisionLanguageModel model(config, 10, 1);
  EXPECT_EQ(model.image_tokens_per_image(), 5);
  ModelInputs inputs;
  inputs.input_ids = at::tensor(std::vector<int64_t>{S, S, S, S, S, 1}).view({1, 6});
  inputs.images = at::randn({1, 3, 16, 16});
  const ModelOutputs out = model.forward(inputs);
  const auto states = model.vision_hidden_states(inputs.images);
  ASSERT_EQ(states.size(), 3u);
  EXPECT_TRUE(at::allclose(out.image_embeds, model.impl().projector(states[2])));
}

}  // namespace
}  // namespace vlm::models
