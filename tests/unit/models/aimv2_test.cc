// The AIMv2 vision tower (models/aimv2.h) and the vision-tower interface: HF names and shapes, the
// parameter count of the published config without building it, config.json both ways, save and
// load, initialisation, and a reference check against plain torch (tests/reference/aimv2.py: a
// model folder made in python, loaded here through load_hf).
#include "models/aimv2.h"

#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "models/hf_config.h"
#include "models/init.h"
#include "models/model.h"
#include "models/model_impl.h"
#include "models/safetensors.h"
#include "models/vision.h"
#include "tests/support/error_message.h"
#include "tests/support/python_check.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

constexpr int64_t S = kImageSlot;
const char kHugeConfig[] =
    VLM_SOURCE_DIR "/tests/fixtures/apple/aimv2-huge-patch14-448/config.json";
const char kClipLargeConfig[] =
    VLM_SOURCE_DIR "/tests/fixtures/openai/clip-vit-large-patch14-336/config.json";

// 16 px images, patch 8: 4 patch tokens; d 8, two blocks of two heads.
recipes::VisionConfig small_aimv2(bool qkv_bias = false, bool use_bias = false) {
  recipes::VisionConfig config;
  config.type = recipes::VisionType::kAimv2;
  config.drop_cls = false;
  config.image_size = 16;
  config.patch_size = 8;
  config.hidden_size = 8;
  config.intermediate_size = 12;
  config.num_layers = 2;
  config.num_heads = 2;
  config.feature_layer = -1;
  config.qkv_bias = qkv_bias;
  config.use_bias = use_bias;
  return config;
}

// testkit::small_model's LLaVA layout with the AIMv2 tower.
recipes::ModelSection llava_with_aimv2(bool qkv_bias = false, bool use_bias = false) {
  recipes::ModelSection config = testkit::small_model();
  config.vision = small_aimv2(qkv_bias, use_bias);
  return config;
}

void expect_mentions(const std::string& message, const std::vector<std::string>& words) {
  for (const auto& word : words) {
    EXPECT_NE(message.find(word), std::string::npos) << "'" << word << "' not in: " << message;
  }
}

int64_t numel_of(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

ModelInputs four_token_images(int64_t images) {
  ModelInputs inputs;
  std::vector<int64_t> ids = {1};
  for (int64_t i = 0; i < 4 * images; ++i) ids.push_back(S);
  ids.push_back(2);
  inputs.input_ids = at::tensor(ids).view({1, -1});
  at::Generator gen = init::generator(3, "pixels");
  inputs.images = at::randn({images, 3, 16, 16}, gen);
  return inputs;
}

TEST(Aimv2, NamesAndShapesFollowTheHfLayout) {
  for (const auto& [qkv_bias, use_bias] : {std::pair{true, false}, std::pair{false, true}}) {
    VisionLanguageModel model(llava_with_aimv2(qkv_bias, use_bias), 10, 1);
    std::map<std::string, std::vector<int64_t>> expected = {
        {"vision.preprocessor.pos_embed", {1, 4, 8}},
        {"vision.preprocessor.patchifier.proj.weight", {8, 3, 8, 8}},
        {"vision.preprocessor.patchifier.proj.bias", {8}},
        {"vision.preprocessor.patchifier.norm.weight", {8}},
        {"vision.trunk.post_trunk_norm.weight", {8}}};
    for (const std::string block : {"0", "1"}) {
      const std::string n = "vision.trunk.blocks." + block + ".";
      expected[n + "attn.qkv.weight"] = {24, 8};
      expected[n + "attn.proj.weight"] = {8, 8};
      expected[n + "norm_1.weight"] = {8};
      expected[n + "mlp.fc1.weight"] = {12, 8};
      expected[n + "mlp.fc2.weight"] = {8, 12};
      expected[n + "mlp.fc3.weight"] = {12, 8};
      expected[n + "norm_2.weight"] = {8};
      if (qkv_bias) expected[n + "attn.qkv.bias"] = {24};
      if (use_bias) {
        expected[n + "attn.proj.bias"] = {8};
        expected[n + "mlp.fc1.bias"] = {12};
        expected[n + "mlp.fc2.bias"] = {8};
        expected[n + "mlp.fc3.bias"] = {12};
      }
    }
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& [name, p] : model.named_parameters()) {
      if (name.rfind("vision.", 0) == 0) got[name] = p.sizes().vec();
    }
    EXPECT_EQ(got, expected) << "qkv_bias " << qkv_bias << ", use_bias " << use_bias;

    const auto units = model.sharding_units();
    ASSERT_EQ(units.front().name, "vision");
    EXPECT_EQ(
        std::set<std::string>(units.front().param_names.begin(), units.front().param_names.end())
            .size(),
        expected.size());
    for (const auto& name : units.front().param_names) EXPECT_TRUE(expected.count(name)) << name;
  }
}

TEST(Aimv2, LlavaFeaturesAreEveryPatchOfTheChosenLayer) {
  VisionLanguageModel model(llava_with_aimv2(), 10, 1);
  VisionTowerImpl& tower = *model.impl().vision;
  EXPECT_FALSE(tower.has_class_token());
  EXPECT_EQ(tower.sequence_length(), 4);
  EXPECT_EQ(model.image_tokens_per_image(), 4);
  const ModelInputs inputs = four_token_images(2);
  const ModelOutputs out = model.forward(inputs);
  const auto states = model.vision_hidden_states(inputs.images);
  ASSERT_EQ(states.size(), 3u);
  for (const auto& state : states) EXPECT_EQ(state.sizes(), at::IntArrayRef({2, 4, 8}));
  EXPECT_TRUE(at::allclose(out.image_embeds, model.impl().projector(states[2])));
  EXPECT_TRUE(out.logits.isfinite().all().item<bool>());

  // The interface says the same of CLIP's tower, class token included.
  VisionLanguageModel clip(testkit::small_model(), 10, 1);
  VisionTowerImpl& clip_tower = *clip.impl().vision;
  EXPECT_TRUE(clip_tower.has_class_token());
  EXPECT_EQ(clip_tower.sequence_length(), 5);
  EXPECT_EQ(clip_tower.tokens_per_image(), 4);
  const at::Tensor state = clip.vision_hidden_states(inputs.images)[1];
  EXPECT_TRUE(at::equal(clip_tower.patch_tokens(state), state.narrow(1, 1, 4)));
  clip.module().to(at::kDouble);
  EXPECT_EQ(clip_tower.options().dtype(), at::kDouble);
}

TEST(Aimv2, ParameterCountComesFromTheConfigAlone) {
  const recipes::VisionConfig huge = vision_config_from_hf(kHugeConfig, recipes::VisionConfig{});
  EXPECT_EQ(vision_parameter_count(huge), 682031616);  // AIMv2-Huge-448, as published
  const recipes::VisionConfig clip = vision_config_from_hf(kClipLargeConfig, {});
  EXPECT_EQ(vision_parameter_count(clip), 303507456);  // CLIP ViT-L/14-336's vision tower

  // The formulas against real towers of small configs, so they cannot drift from the modules.
  std::vector<recipes::VisionConfig> configs;
  for (const bool qkv_bias : {false, true}) {
    for (const bool use_bias : {false, true}) configs.push_back(small_aimv2(qkv_bias, use_bias));
  }
  recipes::VisionConfig wide = small_aimv2(true, true);
  wide.image_size = 24;
  wide.num_layers = 3;
  wide.intermediate_size = 20;
  configs.push_back(wide);
  configs.push_back(testkit::small_model().vision);
  recipes::VisionConfig clip_wide = testkit::small_model().vision;
  clip_wide.image_size = 24;
  clip_wide.num_layers = 3;
  configs.push_back(clip_wide);
  for (const auto& config : configs) {
    VisionTower tower = make_vision_tower(config);
    EXPECT_EQ(vision_parameter_count(config), numel_of(*tower))
        << recipes::name_of(config.type) << " qkv_bias " << config.qkv_bias << " use_bias "
        << config.use_bias;
  }
}

TEST(Aimv2, ConfigJsonRoundTripsAndRefusesWhatItCannotBuild) {
  recipes::VisionConfig base;  // clip defaults: drop_cls true
  base.init_std = 0.01;
  const recipes::VisionConfig huge = vision_config_from_hf(kHugeConfig, base);
  EXPECT_EQ(huge.type, recipes::VisionType::kAimv2);
  EXPECT_FALSE(huge.drop_cls);
  EXPECT_EQ(huge.hidden_size, 1536);
  EXPECT_EQ(huge.intermediate_size, 4096);
  EXPECT_EQ(huge.num_layers, 24);
  EXPECT_EQ(huge.num_heads, 12);
  EXPECT_EQ(huge.patch_size, 14);
  EXPECT_EQ(huge.image_size, 448);
  EXPECT_EQ(huge.rms_norm_eps, 1e-5);
  EXPECT_FALSE(huge.qkv_bias);
  EXPECT_FALSE(huge.use_bias);
  EXPECT_EQ(huge.init_std, 0.01);  // not in the file: kept

  recipes::VisionConfig mine = small_aimv2(true, false);
  mine.rms_norm_eps = 1e-6;
  const std::string text = vision_config_to_hf(mine, "bfloat16");
  expect_mentions(text, {"\"AIMv2Model\"", "\"model_type\": \"aimv2\"", "\"bfloat16\"",
                         "modeling_aimv2.AIMv2Model"});
  const recipes::VisionConfig back =
      vision_config_from_hf_text(text, "mine", recipes::VisionConfig{});
  EXPECT_EQ(back.type, recipes::VisionType::kAimv2);
  EXPECT_FALSE(back.drop_cls);
  EXPECT_EQ(back.hidden_size, mine.hidden_size);
  EXPECT_EQ(back.intermediate_size, mine.intermediate_size);
  EXPECT_EQ(back.num_layers, mine.num_layers);
  EXPECT_EQ(back.num_heads, mine.num_heads);
  EXPECT_EQ(back.image_size, mine.image_size);
  EXPECT_EQ(back.patch_size, mine.patch_size);
  EXPECT_EQ(back.rms_norm_eps, 1e-6);
  EXPECT_TRUE(back.qkv_bias);
  EXPECT_FALSE(back.use_bias);

  const recipes::VisionConfig any;
  const auto refusal = [&](const std::string& json) {
    return testing::error_message_of(
        [&] { vision_config_from_hf_text(json, "a/config.json", any); });
  };
  expect_mentions(refusal(R"({"model_type": "aimv2", "hidden_act": "gelu"})"),
                  {"a/config.json", "hidden_act"});
  expect_mentions(refusal(R"({"model_type": "aimv2", "num_channels": 4})"),
                  {"a/config.json", "num_channels"});
  expect_mentions(refusal(R"({"model_type": "aimv2", "projection_dropout": 0.1})"),
                  {"a/config.json", "projection_dropout"});
  expect_mentions(refusal(R"({"model_type": "aimv2", "qkv_bias": "yes"})"),
                  {"a/config.json", "qkv_bias", "true or false"});
  expect_mentions(refusal(R"({"model_type": "aimv2_vision_model"})"),
                  {"a/config.json", "model_type", "aimv2"});
}

TEST(Aimv2, TheFolderDecidesTheTypeAndAMismatchNamesBoth) {
  testing::TempDir dir;
  VisionLanguageModel aimv2(llava_with_aimv2(), 10, 1);
  aimv2.save_hf(dir.path());
  recipes::ModelSection config = testkit::small_model();  // type clip
  config.vision.hf_path = dir.file("vision");
  expect_mentions(testing::error_message_of([&] { VisionLanguageModel model(config, 10, 1); }),
                  {"model.vision.type", "clip", "aimv2", dir.file("vision/config.json")});

  config = testkit::small_model();
  config.vision.type = recipes::VisionType::kAimv2;  // drop_cls left true
  expect_mentions(testing::error_message_of([&] { VisionLanguageModel model(config, 10, 1); }),
                  {"model.vision.drop_cls"});
}

TEST(Aimv2, SavesLoadsAndBuildsFromItsFolder) {
  testing::TempDir dir;
  VisionLanguageModel a(llava_with_aimv2(true, true), 10, 1);
  a.save_hf(dir.path());
  const SafetensorsReader saved(dir.file("vision/model.safetensors"));
  EXPECT_NE(saved.find("trunk.blocks.1.mlp.fc3.bias"), nullptr);
  EXPECT_NE(saved.find("preprocessor.pos_embed"), nullptr);
  EXPECT_EQ(saved.entries().size(), 4u + 2 * 12 + 1);
  expect_mentions(files::read_all(dir.file("vision/config.json")),
                  {"\"model_type\": \"aimv2\"", "\"use_bias\": true"});

  const ModelInputs inputs = four_token_images(1);
  const auto logits_of = [&](VisionLanguageModel& model) {
    c10::NoGradGuard no_grad;
    return model.forward(inputs).logits;
  };
  VisionLanguageModel b(llava_with_aimv2(true, true), 10, 2);
  EXPECT_FALSE(at::equal(logits_of(a), logits_of(b)));
  b.load_saved(dir.path());
  EXPECT_TRUE(at::equal(logits_of(a), logits_of(b)));

  // Built from the folder: the file's shapes win over the config's.
  recipes::ModelSection config = testkit::small_model();
  config.vision.type = recipes::VisionType::kAimv2;
  config.vision.drop_cls = false;
  config.vision.num_layers = 7;
  config.vision.hf_path = dir.file("vision");
  VisionLanguageModel c(config, 10, 3);
  EXPECT_EQ(c.config().vision.num_layers, 2);
  EXPECT_TRUE(c.config().vision.use_bias);
  const auto states_a = a.vision_hidden_states(inputs.images);
  const auto states_c = c.vision_hidden_states(inputs.images);
  ASSERT_EQ(states_c.size(), states_a.size());
  for (size_t i = 0; i < states_a.size(); ++i) EXPECT_TRUE(at::equal(states_a[i], states_c[i]));
}

TEST(Aimv2, LoadingAFolderOfOtherNamesListsEveryDifference) {
  testing::TempDir dir;
  VisionLanguageModel a(llava_with_aimv2(), 10, 1);
  a.save_hf(dir.path());
  const std::string weights = dir.file("vision/model.safetensors");
  NamedTensors tensors;
  {
    const SafetensorsReader reader(weights);
    for (const auto& entry : reader.entries()) {
      if (entry.name == "trunk.post_trunk_norm.weight") continue;  // missing
      at::Tensor value = reader.read(entry.name);
      if (entry.name == "trunk.blocks.0.mlp.fc1.weight") value = at::zeros({13, 8});  // misshapen
      tensors.emplace_back(entry.name, value);
    }
  }
  tensors.emplace_back("head.proj.weight", at::zeros({2, 8}));  // unexpected
  write_safetensors(weights, tensors);
  const std::string message =
      testing::error_message_of([&] { a.load_hf("vision", dir.file("vision")); });
  expect_mentions(message, {"trunk.post_trunk_norm.weight", "head.proj.weight",
                            "trunk.blocks.0.mlp.fc1.weight", "13"});
  EXPECT_THROW(a.load_hf("vision", dir.file("vision")), ShapeError);
}

TEST(Aimv2, InitialisationFollowsHfAndThePositionInit) {
  recipes::VisionConfig config = small_aimv2(true, true);
  config.hidden_size = 64;
  config.intermediate_size = 128;
  config.num_heads = 4;
  config.image_size = 32;  // 16 patches
  config.init_std = 0.3;
  config.position_init = recipes::PositionInit::kLearned;
  const auto draw = [&](uint64_t seed) {
    VisionTower tower = make_vision_tower(config);
    at::Generator gen = init::generator(seed, "vision");
    tower->initialize(gen);
    std::map<std::string, at::Tensor> out;
    for (const auto& item : tower->named_parameters()) out[item.key()] = item.value().detach();
    return out;
  };
  const auto a = draw(5), b = draw(5), c = draw(6);
  for (const auto& [name, value] : a) {
    EXPECT_TRUE(at::equal(value, b.at(name))) << name;
    const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const bool norm = name.find("norm") != std::string::npos;
    if (bias) {
      EXPECT_TRUE(at::equal(value, at::zeros_like(value))) << name;
    } else if (norm) {
      EXPECT_TRUE(at::equal(value, at::ones_like(value))) << name;
    } else {
      EXPECT_FALSE(at::equal(value, c.at(name))) << name;
      const double expected_std = name == "preprocessor.pos_embed" ? 0.02 : 0.3;
      EXPECT_NEAR(value.std().item<double>(), expected_std, 0.1 * expected_std) << name;
    }
  }
  config.position_init = recipes::PositionInit::kSincos;
  const at::Tensor table = sincos_position_table(4, 64);  // row 0 is CLIP's class token
  EXPECT_TRUE(at::equal(draw(5).at("preprocessor.pos_embed"), table.narrow(0, 1, 16).unsqueeze(0)));
}

// A folder made by plain torch (random weights under HF's names, its own pixels) loaded through
// load_hf; every hidden state and last_hidden_state compared in python, in fp32 and bf16.
TEST(Aimv2Reference, HiddenStatesMatchPlainTorch) {
  const std::string script = VLM_SOURCE_DIR "/tests/reference/aimv2.py";
  testing::TempDir dir;
  const testing::CommandResult made = testing::run_python(script, {"make", dir.path()});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const at::Tensor pixels = SafetensorsReader(dir.file("pixels.safetensors")).read("pixels");

  NamedTensors ours;
  for (const std::string variant : {"plain", "biased"}) {
    recipes::ModelSection config = testkit::small_model();
    config.vision.type = recipes::VisionType::kAimv2;
    config.vision.drop_cls = false;
    config.vision.feature_layer = -1;
    config.vision.hf_path = dir.file(variant);
    VisionLanguageModel model(config, 10, 1);
    EXPECT_EQ(model.config().vision.num_layers, 3) << variant;
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      model.module().to(dtype);
      c10::NoGradGuard no_grad;
      const std::string prefix = variant + (dtype == at::kFloat ? "." : ".bf16.");
      const auto states = model.vision_hidden_states(pixels);
      for (size_t i = 0; i < states.size(); ++i) {
        ours.emplace_back(prefix + "hidden." + std::to_string(i), states[i].to(at::kFloat));
      }
      auto* tower = model.impl().vision->as<Aimv2VisionImpl>();
      ASSERT_NE(tower, nullptr);
      ours.emplace_back(prefix + "last_hidden_state",
                        tower->last_hidden_state(pixels.to(dtype)).to(at::kFloat));
    }
  }
  write_safetensors(dir.file("ours.safetensors"), ours);
  const testing::CommandResult checked = testing::run_python(script, {"check", dir.path()});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  std::cout << checked.output;
}

}  // namespace
}  // namespace vlm::models
