// HF import/export: save_hf / load_saved, hf_path construction, sharded and bf16 folders,
// config.json parsing, and the name/shape checks.
#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <map>

#include "common/error.h"
#include "common/files.h"
#include "models/hf_config.h"
#include "models/hf_folder.h"
#include "models/init.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/support/error_message.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

constexpr int64_t S = kImageSlot;

ModelInputs image_inputs() {
  ModelInputs inputs;
  inputs.input_ids =
      at::tensor(std::vector<int64_t>{1, S, S, S, S, 2, 3, 4, S, S, S, S}).view({2, 6});
  at::Generator gen = init::generator(3, "inputs");
  inputs.images = at::randn({2, 3, 16, 16}, gen);
  return inputs;
}

at::Tensor logits_of(VisionLanguageModel& model) {
  c10::NoGradGuard no_grad;
  return model.forward(image_inputs()).logits;
}

NamedTensors read_all(const std::string& path) {
  const SafetensorsReader reader(path);
  NamedTensors out;
  for (const auto& entry : reader.entries()) out.emplace_back(entry.name, reader.read(entry.name));
  return out;
}

TEST(HfIo, SaveAndLoadReproducesLogitsExactly) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(true, 2), 10, 1);
  a.save_hf(dir.path());
  for (const char* file : {"llm/config.json", "llm/model.safetensors", "vision/config.json",
                           "vision/model.safetensors", "projector.safetensors"}) {
    EXPECT_TRUE(files::exists(dir.file(file))) << file;
  }
  const SafetensorsReader projector(dir.file("projector.safetensors"));
  EXPECT_NE(projector.find("model.mm_projector.0.weight"), nullptr);
  EXPECT_NE(projector.find("model.mm_projector.2.bias"), nullptr);
  const SafetensorsReader llm(dir.file("llm/model.safetensors"));
  EXPECT_NE(llm.find("model.layers.1.self_attn.k_proj.bias"), nullptr);
  EXPECT_NE(llm.find("lm_head.weight"), nullptr);
  EXPECT_EQ(llm.metadata().at("format"), "pt");

  VisionLanguageModel b(testkit::small_model(true, 2), 10, 2);
  EXPECT_FALSE(at::equal(logits_of(a), logits_of(b)));
  b.load_saved(dir.path());
  EXPECT_TRUE(at::equal(logits_of(a), logits_of(b)));
}

TEST(HfIo, ExportMergesLoraIntoACopy) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(), 10, 1);
  recipes::LoraConfig lora;
  lora.rank = 4;
  lora.targets.push_back("lm_head");  // the head's adapter is merged and saved like the others
  a.add_lora(lora, 5);
  {
    c10::NoGradGuard no_grad;
    at::Generator gen = init::generator(4, "b");
    for (auto& [name, p] : a.named_parameters()) {
      if (name.find("lora_B") != std::string::npos) p.normal_(0.0, 0.1, gen);
    }
  }
  a.train(false);
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, p] : a.named_parameters()) before[name] = p.clone();
  a.save_hf(dir.path());
  for (const auto& [name, p] : a.named_parameters()) {
    EXPECT_TRUE(at::equal(p, before.at(name))) << name << " changed by save_hf";
  }
  EXPECT_EQ(a.named_parameters().size(), before.size());
  const SafetensorsReader exported(dir.file("llm/model.safetensors"));
  for (const auto& entry : exported.entries()) {
    EXPECT_EQ(entry.name.find("lora"), std::string::npos) << entry.name;
  }
  VisionLanguageModel b(testkit::small_model(), 10, 2);
  b.load_saved(dir.path());
  EXPECT_LT((logits_of(a) - logits_of(b)).abs().max().item<float>(), 1e-5);
  // Loading into a model with live adapters zeroes them: it then computes what was saved.
  VisionLanguageModel c(testkit::small_model(), 10, 3);
  c.add_lora(lora, 6);
  c.load_saved(dir.path());
  EXPECT_TRUE(at::equal(logits_of(b), logits_of(c)));
}

TEST(HfIo, HfPathBuildsThePartFromTheFolder) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(true, 2), 10, 1);
  a.save_hf(dir.path());
  recipes::ModelSection config = testkit::small_model();  // shapes below must not matter
  config.llm.hidden_size = 64;
  config.llm.qkv_bias = false;
  config.llm.hf_path = dir.file("llm");
  config.vision.num_layers = 5;
  config.vision.hf_path = dir.file("vision");
  VisionLanguageModel b(config, 9, 1);  // same seed: the projector's stream is the same
  EXPECT_EQ(b.config().llm.hidden_size, 32);
  EXPECT_EQ(b.config().llm.num_kv_heads, 2);
  EXPECT_TRUE(b.config().llm.qkv_bias);
  EXPECT_EQ(b.config().vision.num_layers, 2);
  EXPECT_EQ(b.vocab_size(), 10);
  EXPECT_TRUE(at::equal(logits_of(a), logits_of(b)));
}

TEST(HfIo, LoadsBf16AndShardedFolders) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(), 10, 1);
  a.save_hf(dir.path());
  const NamedTensors tensors = read_all(dir.file("llm/model.safetensors"));

  // bf16 copy of the LLM folder.
  const std::string bf16 = dir.file("bf16");
  files::make_directories(bf16);
  NamedTensors halved;
  for (const auto& [name, t] : tensors) halved.emplace_back(name, t.to(at::kBFloat16));
  write_safetensors(bf16 + "/model.safetensors", halved);
  files::write_atomically(bf16 + "/config.json", files::read_all(dir.file("llm/config.json")));
  EXPECT_EQ(SafetensorsReader(bf16 + "/model.safetensors").entries()[0].dtype, at::kBFloat16);
  VisionLanguageModel b(testkit::small_model(), 10, 2);
  b.load_hf("llm", bf16);
  std::map<std::string, at::Tensor> b_params;
  for (const auto& [name, p] : b.named_parameters()) b_params[name] = p;
  for (const auto& [name, t] : halved) {
    const at::Tensor& p = b_params.at("llm." + name);
    EXPECT_EQ(p.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(p, t.to(at::kFloat))) << name;
  }

  // Two shards and an index.
  const std::string sharded = dir.file("sharded");
  files::make_directories(sharded);
  NamedTensors first(tensors.begin(), tensors.begin() + tensors.size() / 2);
  NamedTensors second(tensors.begin() + tensors.size() / 2, tensors.end());
  write_safetensors(sharded + "/model-00001-of-00002.safetensors", first);
  write_safetensors(sharded + "/model-00002-of-00002.safetensors", second);
  std::string index = R"({"metadata": {"total_size": 0}, "weight_map": {)";
  for (size_t i = 0; i < tensors.size(); ++i) {
    index += (i ? "," : "") + ("\"" + tensors[i].first + "\": \"model-0000") +
             (i < first.size() ? "1" : "2") + "-of-00002.safetensors\"";
  }
  files::write_atomically(sharded + "/model.safetensors.index.json", index + "}}");
  files::write_atomically(sharded + "/config.json", files::read_all(dir.file("llm/config.json")));
  VisionLanguageModel c(testkit::small_model(), 10, 3);
  c.load_hf("llm", sharded);
  std::map<std::string, at::Tensor> a_params;
  for (const auto& [name, p] : a.named_parameters()) a_params[name] = p;
  int64_t compared = 0;
  for (const auto& [name, p] : c.named_parameters()) {
    if (name.rfind("llm.", 0) != 0) continue;
    EXPECT_TRUE(at::equal(p, a_params.at(name))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int64_t>(tensors.size()));
}

TEST(HfIo, NameAndShapeMismatchesAreListed) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(), 10, 1);
  a.save_hf(dir.path());
  NamedTensors tensors = read_all(dir.file("llm/model.safetensors"));
  const std::string config = files::read_all(dir.file("llm/config.json"));
  auto write_folder = [&](const std::string& name, const NamedTensors& content) {
    files::make_directories(dir.file(name));
    write_safetensors(dir.file(name + "/model.safetensors"), content);
    files::write_atomically(dir.file(name + "/config.json"), config);
    return dir.file(name);
  };
  VisionLanguageModel b(testkit::small_model(), 10, 2);

  NamedTensors missing;
  for (const auto& item : tensors) {
    if (item.first != "model.layers.1.mlp.up_proj.weight") missing.push_back(item);
  }
  const std::string m =
      testing::error_message_of([&] { b.load_hf("llm", write_folder("missing", missing)); });
  EXPECT_NE(m.find("missing (1):\n    model.layers.1.mlp.up_proj.weight"), std::string::npos) << m;

  NamedTensors misshapen = tensors;
  for (auto& [name, t] : misshapen) {
    if (name == "model.norm.weight") t = at::ones({31});
  }
  misshapen.emplace_back("model.layers.0.extra.weight", at::ones({2}));
  misshapen.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({4}));
  const std::string s =
      testing::error_message_of([&] { b.load_hf("llm", write_folder("shape", misshapen)); });
  EXPECT_NE(s.find("model.norm.weight: file [31], model [32]"), std::string::npos) << s;
  EXPECT_NE(s.find("unexpected (1):\n    model.layers.0.extra.weight"), std::string::npos) << s;
  EXPECT_EQ(s.find("inv_freq"), std::string::npos) << s;

  // A failed load leaves the model as it was: checks come before any copy.
  VisionLanguageModel fresh(testkit::small_model(), 10, 2);
  EXPECT_TRUE(at::equal(logits_of(b), logits_of(fresh)));
  EXPECT_THROW(b.load_hf("decoder", dir.file("missing")), ConfigError);
}

TEST(HfIo, VisionLoadsFromAWholeClipCheckpoint) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(), 10, 1);
  a.save_hf(dir.path());
  NamedTensors tensors = read_all(dir.file("vision/model.safetensors"));
  tensors.emplace_back("text_model.embeddings.token_embedding.weight", at::ones({3, 2}));
  tensors.emplace_back("logit_scale", at::ones({}));
  tensors.emplace_back("vision_model.embeddings.position_ids",
                       at::arange(5, at::kLong).view({1, 5}));
  const std::string clip = dir.file("clip");
  files::make_directories(clip);
  write_safetensors(clip + "/model.safetensors", tensors);
  files::write_atomically(clip + "/config.json", R"({"model_type": "clip", "vision_config": {
      "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
      "num_attention_heads": 2, "image_size": 16, "patch_size": 8},
      "text_config": {"hidden_size": 2}})");
  VisionLanguageModel b(testkit::small_model(), 10, 2);
  b.load_hf("vision", clip);
  b.load_hf("llm", dir.file("llm"));
  EXPECT_TRUE(at::equal(a.vision_hidden_states(image_inputs().images).back(),
                        b.vision_hidden_states(image_inputs().images).back()));
}

TEST(HfIo, SettingsThatDisagreeAreAConfigError) {
  testing::TempDir dir;
  VisionLanguageModel a(testkit::small_model(), 10, 1);
  a.save_hf(dir.path());
  recipes::ModelSection other = testkit::small_model();
  other.llm.rope_theta = 500000.0;
  VisionLanguageModel b(other, 10, 1);
  const std::string m = testing::error_message_of([&] { b.load_hf("llm", dir.file("llm")); });
  EXPECT_NE(m.find("rope_theta: model 500000, file 10000"), std::string::npos) << m;
}

TEST(HfConfig, ReadsLlamaQwenAndClipConfigs) {
  const recipes::LlmConfig base;
  const auto llama = llm_config_from_hf_text(R"({
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
      "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
      "num_key_value_heads": 32, "rms_norm_eps": 1e-05, "rope_scaling": null,
      "max_position_embeddings": 4096, "tie_word_embeddings": false, "vocab_size": 32000,
      "hidden_act": "silu", "torch_dtype": "float16"})",
                                             "vicuna/config.json", base);
  EXPECT_EQ(llama.family, recipes::LlmFamily::kLlama);
  EXPECT_EQ(llama.hidden_size, 4096);
  EXPECT_EQ(llama.intermediate_size, 11008);
  EXPECT_EQ(llama.num_layers, 32);
  EXPECT_EQ(llama.num_kv_heads, 32);
  EXPECT_EQ(llama.max_position, 4096);
  EXPECT_EQ(llama.vocab_size, 32000);
  EXPECT_DOUBLE_EQ(llama.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(llama.rope_theta, 10000.0);
  EXPECT_FALSE(llama.qkv_bias);

  const auto qwen = llm_config_from_hf_text(R"({
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
      "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
      "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
      "max_position_embeddings": 32768, "tie_word_embeddings": false, "vocab_size": 152064,
      "sliding_window": 131072, "use_sliding_window": false})",
                                            "qwen/config.json", base);
  EXPECT_EQ(qwen.family, recipes::LlmFamily::kQwen2);
  EXPECT_TRUE(qwen.qkv_bias);
  EXPECT_EQ(qwen.num_kv_heads, 4);
  EXPECT_DOUBLE_EQ(qwen.rope_theta, 1e6);

  const recipes::VisionConfig vbase;
  const auto clip = vision_config_from_hf_text(R"({"model_type": "clip", "vision_config": {
      "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
      "num_attention_heads": 16, "image_size": 336, "patch_size": 14}})",
                                               "clip/config.json", vbase);
  EXPECT_EQ(clip.hidden_size, 1024);
  EXPECT_EQ(clip.num_layers, 24);
  EXPECT_EQ(clip.image_size, 336);
  EXPECT_EQ(clip.patch_size, 14);
  EXPECT_EQ(clip.feature_layer, -2);  // kept from the recipe

  // Round trip of our own writer.
  recipes::LlmConfig mine;
  mine.vocab_size = 33;
  mine.num_kv_heads = 2;
  mine.tie_word_embeddings = true;
  const auto back = llm_config_from_hf_text(llm_config_to_hf(mine, "float32"), "mine", base);
  EXPECT_EQ(back.vocab_size, 33);
  EXPECT_EQ(back.num_kv_heads, 2);
  EXPECT_TRUE(back.tie_word_embeddings);
  EXPECT_EQ(back.hidden_size, mine.hidden_size);
}

TEST(HfConfig, UnsupportedVariantsNameTheFileAndKey) {
  const recipes::LlmConfig base;
  const std::string a = testing::error_message_of(
      [&] { llm_config_from_hf_text(R"({"model_type": "mistral"})", "m/config.json", base); });
  EXPECT_NE(a.find("m/config.json"), std::string::npos) << a;
  EXPECT_NE(a.find("model_type"), std::string::npos) << a;
  const std::string b = testing::error_message_of([&] {
    llm_config_from_hf_text(R"({"model_type": "llama", "rope_scaling": {"type": "linear"}})",
                            "r/config.json", base);
  });
  EXPECT_NE(b.find("rope_scaling"), std::string::npos) << b;
  const std::string c = testing::error_message_of([&] {
    llm_config_from_hf_text(R"({"model_type": "llama", "hidden_size": "big"})", "h/config.json",
                            base);
  });
  EXPECT_NE(c.find("'hidden_size' must be a positive integer"), std::string::npos) << c;
  EXPECT_THROW(llm_config_from_hf_text("{", "x", base), FormatError);
  EXPECT_THROW(vision_config_from_hf_text(R"({"model_type": "siglip_vision_model"})", "s",
                                          recipes::VisionConfig{}),
               ConfigError);
}

}  // namespace
}  // namespace vlm::models
