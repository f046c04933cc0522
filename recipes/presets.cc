// Named model shapes. The published ones follow the Hugging Face config.json of the models they
// name; `tiny` is the shape RECIPES.md measured to learn the shapes corpus on this machine.
#include <utility>
#include <vector>

#include "common/error.h"
#include "recipes/load.h"
#include "recipes/schema.h"

namespace vlm::recipes {
namespace {

ModelSection tiny() {
  ModelSection model;
  model.preset = "tiny";
  LlmConfig& llm = model.llm;
  llm.family = LlmFamily::kLlama;
  llm.vocab_size = 0;  // from the tokenizer
  llm.hidden_size = 128;
  llm.intermediate_size = 344;  // ~8/3 * 128, as LLaMA's SwiGLU sizing
  llm.num_layers = 4;
  llm.num_heads = 4;
  llm.num_kv_heads = 0;
  llm.rope_theta = 1e4;
  llm.rms_norm_eps = 1e-5;
  llm.max_position = 512;
  VisionConfig& vision = model.vision;
  vision.type = VisionType::kClip;
  vision.image_size = 32;  // 32x32 images, patch 8: 16 image tokens
  vision.patch_size = 8;
  vision.hidden_size = 64;
  vision.intermediate_size = 256;
  vision.num_layers = 2;
  vision.num_heads = 4;
  vision.feature_layer = -2;
  vision.drop_cls = true;
  vision.position_init =
      PositionInit::kSincos;  // a frozen random ViT needs fixed positions to be useful
  model.projector.type = ProjectorType::kMlp2xGelu;
  return model;
}

// LLaVA-1.5 7B: Vicuna-7B v1.5 and CLIP ViT-L/14 at 336 px.
ModelSection vicuna_7b_clip_vit_l_336() {
  ModelSection model;
  model.preset = "vicuna-7b+clip-vit-l-336";
  LlmConfig& llm = model.llm;
  llm.family = LlmFamily::kLlama;
  llm.vocab_size = 32000;
  llm.hidden_size = 4096;
  llm.intermediate_size = 11008;
  llm.num_layers = 32;
  llm.num_heads = 32;
  llm.num_kv_heads = 32;
  llm.rope_theta = 1e4;
  llm.rms_norm_eps = 1e-5;
  llm.qkv_bias = false;
  llm.max_position = 4096;
  llm.tie_word_embeddings = false;
  VisionConfig& vision = model.vision;
  vision.type = VisionType::kClip;
  vision.image_size = 336;  // (336/14)^2 = 576 image tokens
  vision.patch_size = 14;
  vision.hidden_size = 1024;
  vision.intermediate_size = 4096;
  vision.num_layers = 24;
  vision.num_heads = 16;
  vision.feature_layer = -2;
  vision.drop_cls = true;
  vision.position_init = PositionInit::kLearned;
  model.projector.type = ProjectorType::kMlp2xGelu;
  return model;
}

// VoRA: Qwen2.5-7B-Instruct with AIMv2-Huge (448 px) as the distillation teacher (its config.json:
// tests/fixtures/apple/aimv2-huge-patch14-448).
ModelSection qwen25_7b_aimv2_huge_448() {
  ModelSection model;
  model.preset = "qwen2.5-7b+aimv2-huge-448";
  LlmConfig& llm = model.llm;
  llm.family = LlmFamily::kQwen2;
  llm.vocab_size = 152064;
  llm.hidden_size = 3584;
  llm.intermediate_size = 18944;
  llm.num_layers = 28;
  llm.num_heads = 28;
  llm.num_kv_heads = 4;
  llm.rope_theta = 1e6;
  llm.rms_norm_eps = 1e-6;
  llm.qkv_bias = true;
  llm.max_position = 32768;
  llm.tie_word_embeddings = false;
  VisionConfig& vision = model.vision;
  vision.type = VisionType::kAimv2;
  vision.image_size = 448;
  vision.patch_size = 14;
  vision.hidden_size = 1536;
  vision.intermediate_size = 4096;
  vision.num_layers = 24;  // N_vit: the LLM blocks VoRA distils
  vision.num_heads = 12;
  vision.feature_layer = -1;
  vision.drop_cls = false;  // AIMv2 has no class token
  vision.position_init = PositionInit::kLearned;
  vision.rms_norm_eps = 1e-5;
  vision.qkv_bias = false;
  vision.use_bias = false;
  model.projector.type = ProjectorType::kMlp2xGelu;
  return model;
}

using PresetMaker = ModelSection (*)();

const std::vector<std::pair<std::string, PresetMaker>>& presets() {
  static const std::vector<std::pair<std::string, PresetMaker>> table = {
      {"tiny", &tiny},
      {"vicuna-7b+clip-vit-l-336", &vicuna_7b_clip_vit_l_336},
      {"qwen2.5-7b+aimv2-huge-448", &qwen25_7b_aimv2_huge_448},
  };
  return table;
}

}  // namespace

namespace schema {

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& entry : presets()) names.push_back(entry.first);
  return names;
}

}  // namespace schema

ModelSection preset(const std::string& name) {
  for (const auto& [preset_name, make] : presets()) {
    if (preset_name == name) return make();
  }
  VLM_THROW(ConfigError, "unknown model preset '", name,
            "' (known: ", schema::join(schema::preset_names()), ")");
}

}  // namespace vlm::recipes
