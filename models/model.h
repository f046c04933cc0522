// The vision-language model: CLIP-style ViT -> projector -> decoder LLM, with HF parameter names.
// It knows nothing of MPI or sharding: it declares its sharding units as plain data.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::models {

// Token id that marks an image slot in input_ids (LLaVA's IMAGE_TOKEN_INDEX).
constexpr int64_t kImageSlot = -200;
constexpr int64_t kIgnoreLabel = -100;

// What one forward pass needs. input_ids holds kImageSlot at every image-token position; the
// images fill those slots in order (row-major over the batch).
struct ModelInputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor images;          // [N, 3, H, W] float, normalized; undefined or N == 0: no images
  at::Tensor attention_mask;  // [B, 1, T, T] additive float (0 or -inf), see attention_mask.h
  at::Tensor position_ids;    // [B, T] int64; undefined: 0..T-1
};

struct ModelOutputs {
  at::Tensor logits;                      // [B, T, V]
  at::Tensor last_hidden;                 // [B, T, d_h], after the final norm (before lm_head)
  std::vector<at::Tensor> block_hiddens;  // each block's output [B, T, d_h], when asked
  at::Tensor image_embeds;                // projector output [N, P, d_h]
};

// A sharding unit: a group of parameters gathered and freed together (one per transformer
// block, plus embeddings, head, vision tower, projector). Plain data for sharding/.
struct ShardingUnit {
  std::string name;                      // "llm.layers.3", "llm.embed_tokens", "vision", ...
  std::vector<std::string> param_names;  // full names as in named_parameters()
};

class VisionLanguageModelImpl;

// Owns the three parts. Parameter names (named_parameters()) follow HF:
//   "llm.model.layers.0.self_attn.q_proj.weight"   (LlamaForCausalLM / Qwen2ForCausalLM under "llm.")
//   "vision.vision_model.encoder.layers.0.mlp.fc1.weight"   (CLIPVisionModel under "vision.")
//   "projector.0.weight", "projector.2.weight"   (mlp2x_gelu)
class VisionLanguageModel {
 public:
  // vocab_size: the tokenizer's size including added tokens (used when config.llm.vocab_size is 0).
  VisionLanguageModel(const recipes::ModelSection& config, int64_t vocab_size, uint64_t seed);
  ~VisionLanguageModel();

  ModelOutputs forward(const ModelInputs& inputs, bool want_block_hiddens = false);

  // Applies LoRA (rank > 0) to the LLM's Linear layers whose names end in one of config.targets.
  void add_lora(const recipes::LoraConfig& config, uint64_t seed);
  // Folds LoRA into the base weights (W += scale * B A) and drops the LoRA parameters.
  void merge_lora();

  // Marks parameters trainable by group: vision, projector, llm, lora, embed_tokens, lm_head.
  void set_trainable(const std::vector<std::string>& groups);

  // Every parameter by its full name ("llm.", "vision.", "projector." prefixes), in a fixed order.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<ShardingUnit> sharding_units() const;

  // Train/eval mode (LoRA dropout).
  void train(bool on);

  // HF import/export. A folder holds config.json + model.safetensors (or shards with
  // model.safetensors.index.json). Part is "llm" or "vision". Import checks names and shapes and
  // throws ShapeError listing every mismatch.
  void load_hf(const std::string& part, const std::string& folder);
  // Writes llm/ (LoRA merged into a copy), vision/ and projector.safetensors under folder.
  void save_hf(const std::string& folder) const;
  // Loads what save_hf wrote.
  void load_saved(const std::string& folder);

  const recipes::ModelSection& config() const;
  int64_t image_tokens_per_image() const;
  int64_t vocab_size() const;
  // The module tree, for code that needs torch::nn access (e.g. to(dtype)).
  torch::nn::Module& module();

 private:
  std::unique_ptr<VisionLanguageModelImpl> impl_;
};

}  // namespace vlm::models
