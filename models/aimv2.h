// AIMv2's vision tower (model.vision.type aimv2) in the layout of the Hugging Face remote-code
// AIMv2Model that apple/aimv2-* load, so that their safetensors load without renaming (d: hidden,
// I: intermediate, p: patch, P = (image_size / p)^2 patches):
//   preprocessor.patchifier.proj.{weight [d, 3, p, p], bias [d]}   Conv2d, kernel = stride = p
//   preprocessor.patchifier.norm.weight [d]                         RMSNorm
//   preprocessor.pos_embed [1, P, d]                                learned, one row per patch
//   trunk.blocks.<i>.attn.qkv.weight [3d, d] (.bias iff qkv_bias)   q, k, v stacked in that order
//   trunk.blocks.<i>.attn.proj.weight [d, d] (.bias iff use_bias)
//   trunk.blocks.<i>.norm_1.weight, trunk.blocks.<i>.norm_2.weight  RMSNorm
//   trunk.blocks.<i>.mlp.fc{1,2,3}.weight (.bias iff use_bias)     fc1, fc3 [I, d]; fc2 [d, I]
//   trunk.post_trunk_norm.weight                                    RMSNorm, for last_hidden_state
//
//   embedding: x = norm(proj(pixels) as row-major patch tokens) + pos_embed   (no class token)
//   block:     x = x + attn.proj(attention over heads of attn.qkv(norm_1(x)))
//              x = x + mlp.fc2(silu(mlp.fc1(norm_2(x))) * mlp.fc3(norm_2(x)))
// RMSNorm takes its statistics in at least fp32 (models/layers.h), as HF's.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "models/layers.h"
#include "models/lora.h"
#include "models/vision_embedding.h"
#include "models/vision_tower.h"
#include "recipes/recipe.h"

namespace vlm::models {

class Aimv2AttentionImpl : public torch::nn::Module {
 public:
  Aimv2AttentionImpl(int64_t hidden, int64_t heads, bool qkv_bias, bool proj_bias);
  at::Tensor forward(const at::Tensor& x);  // full (bidirectional) attention over the patches
  Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(Aimv2Attention);

class Aimv2MlpImpl : public torch::nn::Module {
 public:
  Aimv2MlpImpl(int64_t hidden, int64_t intermediate, bool bias);
  at::Tensor forward(const at::Tensor& x);  // fc2(silu(fc1(x)) * fc3(x))
  Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
TORCH_MODULE(Aimv2Mlp);

class Aimv2BlockImpl : public torch::nn::Module {
 public:
  explicit Aimv2BlockImpl(const recipes::VisionConfig& config);
  at::Tensor forward(const at::Tensor& x);
  Aimv2Attention attn{nullptr};
  RmsNorm norm_1{nullptr};
  Aimv2Mlp mlp{nullptr};
  RmsNorm norm_2{nullptr};
};
TORCH_MODULE(Aimv2Block);

// HF's "patchifier": the patch convolution and its RMSNorm.
class Aimv2PatchifierImpl : public torch::nn::Module {
 public:
  explicit Aimv2PatchifierImpl(const recipes::VisionConfig& config);
  at::Tensor forward(const at::Tensor& pixels);  // [N, 3, H, W] -> [N, patches, d]
  PatchConv proj{nullptr};
  RmsNorm norm{nullptr};
};
TORCH_MODULE(Aimv2Patchifier);

class Aimv2PreprocessorImpl : public torch::nn::Module {
 public:
  explicit Aimv2PreprocessorImpl(const recipes::VisionConfig& config);
  at::Tensor forward(const at::Tensor& pixels);  // patch tokens plus their positions
  at::Tensor pos_embed;                          // [1, P, d]
  Aimv2Patchifier patchifier{nullptr};
};
TORCH_MODULE(Aimv2Preprocessor);

class Aimv2TrunkImpl : public torch::nn::Module {
 public:
  explicit Aimv2TrunkImpl(const recipes::VisionConfig& config);
  std::vector<Aimv2Block> blocks;  // registered under "blocks"
  RmsNorm post_trunk_norm{nullptr};
};
TORCH_MODULE(Aimv2Trunk);

class Aimv2VisionImpl : public VisionTowerImpl {
 public:
  // Allocates only; call initialize() for random weights. ConfigError naming model.vision.* for a
  // config that is not an AIMv2 tower's (including drop_cls true).
  explicit Aimv2VisionImpl(const recipes::VisionConfig& config);
  // As HF's _init_weights: Linear and Conv weights normal(0, init_std), biases zero, norms one,
  // pos_embed normal(0, 0.02); with position_init sincos pos_embed is instead the fixed 2-D sin-cos
  // table (sincos_position_table's patch rows). Drawn in parameter order.
  void initialize(at::Generator& gen) override;

  // [0]: the preprocessor's output; [i]: block i's output (HF's hidden_states[i - 1]), each
  // before post_trunk_norm.
  std::vector<at::Tensor> hidden_states(const at::Tensor& pixels, int64_t count = -1) override;
  // HF's last_hidden_state: post_trunk_norm over the last block's output.
  at::Tensor last_hidden_state(const at::Tensor& pixels);
  bool has_class_token() const override { return false; }
  at::TensorOptions options() const override;
  // What a tower of this config holds, without building it.
  static int64_t parameter_count(const recipes::VisionConfig& config);

  Aimv2Preprocessor preprocessor{nullptr};
  Aimv2Trunk trunk{nullptr};
};
TORCH_MODULE(Aimv2Vision);

}  // namespace vlm::models
