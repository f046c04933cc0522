// HF config.json <-> our config structs, for LlamaForCausalLM / Qwen2ForCausalLM,
// CLIPVisionModel (or a whole CLIPModel, whose vision part sits under "vision_config") and the
// remote-code AIMv2Model of apple/aimv2-* (model_type aimv2).
#pragma once

#include <string>

#include "recipes/recipe.h"

namespace vlm::models {

// Shape fields (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, rms_norm_eps, rope_theta, vocab_size, max_position_embeddings,
// tie_word_embeddings, model_type) come from the file, with HF's defaults where a key is absent;
// what HF does not describe (init_std, hf_path) is kept from base. qkv_bias follows the family
// (qwen2: true) unless the file has our "qkv_bias" key. Unsupported variants (rope_scaling,
// attention_bias, another hidden_act or head_dim) are a ConfigError naming the file and key.
recipes::LlmConfig llm_config_from_hf(const std::string& config_json_path,
                                      const recipes::LlmConfig& base);
recipes::LlmConfig llm_config_from_hf_text(const std::string& json_text, const std::string& source,
                                           const recipes::LlmConfig& base);
// Architecture fields from the file, and type from its model_type: clip for clip_vision_model,
// clip or no model_type; aimv2 for aimv2, which also sets drop_cls false (no class token).
// feature_layer, drop_cls (clip), position_init, init_std and hf_path come from base, as do the
// fields the file's type does not have.
// Unsupported values (another model_type or hidden_act, num_channels other than 3, AIMv2 dropout)
// are a ConfigError naming the file and key.
recipes::VisionConfig vision_config_from_hf(const std::string& config_json_path,
                                            const recipes::VisionConfig& base);
recipes::VisionConfig vision_config_from_hf_text(const std::string& json_text,
                                                 const std::string& source,
                                                 const recipes::VisionConfig& base);

// config.json text for HF (plus our "qkv_bias" key, which HF ignores). config.vocab_size must be
// the real size; torch_dtype names the weights' dtype ("float32", see torch_dtype_name). The vision
// tower's by config.type: a CLIPVisionModel's, or an AIMv2Model's (auto_map naming the remote code
// files, which a folder for HF's AutoModel needs beside it).
std::string llm_config_to_hf(const recipes::LlmConfig& config, const std::string& torch_dtype);
std::string vision_config_to_hf(const recipes::VisionConfig& config,
                                const std::string& torch_dtype);

}  // namespace vlm::models
