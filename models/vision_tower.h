// The vision tower as the rest of models/ sees it, whatever its layout: the model's LLaVA path,
// Inverse-LLaVA's fusion, VoRA's distillation teacher and the HF import/export use only this.
// The towers: ClipVision (models/vision.h, HF CLIPVisionModel) and Aimv2Vision (models/aimv2.h,
// HF remote-code AIMv2Model), chosen by model.vision.type.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::models {

class VisionTowerImpl : public torch::nn::Module {
 public:
  // Random weights drawn from gen, by the tower's own conventions (see each tower).
  virtual void initialize(at::Generator& gen) = 0;

  // The hidden states, each [N, sequence_length(), d]: [0] the embedding output that enters the
  // first block, [i] block i's output (so HF's hidden_states for CLIP, which counts the
  // embeddings; AIMv2's HF tuple starts at block 1, our [1]). Runs only the blocks needed for the
  // first `count` entries (all when count < 0). pixels: [N, 3, image_size, image_size] in
  // options() (ShapeError for another shape).
  virtual std::vector<at::Tensor> hidden_states(const at::Tensor& pixels, int64_t count = -1) = 0;

  // Whether token 0 of every hidden state is a class token (CLIP) rather than a patch (AIMv2).
  virtual bool has_class_token() const = 0;
  // The dtype and device the tower computes in (its parameters'); its inputs are converted to it.
  virtual at::TensorOptions options() const = 0;

  // LLaVA's image features: hidden_states[feature_layer], the class token dropped when drop_cls.
  at::Tensor features(const at::Tensor& pixels);
  // A hidden state's patch tokens, [N, patches_per_image(), d]: the class token, if any, dropped.
  at::Tensor patch_tokens(const at::Tensor& state) const;
  int64_t patches_per_image() const;  // (image_size / patch_size)^2
  int64_t sequence_length() const;    // tokens of each hidden state: patches (+ class token)
  int64_t tokens_per_image() const;   // tokens of features()
  // feature_layer as an index into hidden_states (negative counts from the end).
  int64_t feature_index() const;
  const recipes::VisionConfig& config() const { return config_; }

 protected:
  // Validates the config (validate_vision_config).
  explicit VisionTowerImpl(const recipes::VisionConfig& config);

 private:
  recipes::VisionConfig config_;
};
TORCH_MODULE(VisionTower);

// A tower of config.type (clip | aimv2), allocated only: call initialize() for random weights.
// ConfigError naming model.vision.* for another type or a config that does not fit together.
VisionTower make_vision_tower(const recipes::VisionConfig& config);

// The number of parameters a tower of this config holds, computed from the config alone (for
// plans of towers too large to build here). ConfigError as make_vision_tower.
int64_t vision_parameter_count(const recipes::VisionConfig& config);

// Throws ConfigError naming model.vision.<key> when the config does not describe a tower of its
// type: shapes that do not fit together, or a setting the type does not have (drop_cls for
// AIMv2, which has no class token).
void validate_vision_config(const recipes::VisionConfig& config);

}  // namespace vlm::models
