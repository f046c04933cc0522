// CLIP-style ViT in HF CLIPVisionModel layout:
//   vision_model.embeddings.{class_embedding, patch_embedding.weight, position_embedding.weight},
//   vision_model.pre_layrnorm (HF's spelling), vision_model.encoder.layers.<i>.{self_attn.
//   {k,v,q,out}_proj, layer_norm1, mlp.{fc1,fc2}, layer_norm2}, vision_model.post_layernorm.
// Token 0 of every hidden state is the class token.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <vector>

#include "models/layers.h"
#include "models/lora.h"
#include "models/vision_tower.h"
#include "recipes/recipe.h"

namespace vlm::models {

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(int64_t hidden, int64_t heads);
  at::Tensor forward(const at::Tensor& x);
  Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& x);  // fc2(quick_gelu(fc1(x)))
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

class ClipLayerImpl : public torch::nn::Module {
 public:
  explicit ClipLayerImpl(const recipes::VisionConfig& config);
  at::Tensor forward(const at::Tensor& x);
  ClipAttention self_attn{nullptr};
  LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipLayer);

class ClipEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit ClipEmbeddingsImpl(const recipes::VisionConfig& config);
  at::Tensor forward(const at::Tensor& pixels);  // [N, 3, H, W] -> [N, 1 + patches, d]
  at::Tensor class_embedding;                    // [d]
  Weight patch_embedding{nullptr};               // conv weight [d, 3, patch, patch], no bias
  Embedding position_embedding{nullptr};         // [1 + patches, d]

 private:
  int64_t patch_size_;
};
TORCH_MODULE(ClipEmbeddings);

// HF's CLIPVisionTransformer: the "vision_model." part.
class ClipTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipTransformerImpl(const recipes::VisionConfig& config);
  ClipEmbeddings embeddings{nullptr};
  LayerNorm pre_layrnorm{nullptr};
  std::vector<ClipLayer> layers;      // registered under "encoder.layers"
  LayerNorm post_layernorm{nullptr};  // only for HF's pooled output; LLaVA's features skip it
};
TORCH_MODULE(ClipTransformer);

class ClipVisionImpl : public VisionTowerImpl {
 public:
  // Allocates only; call initialize() for random weights.
  explicit ClipVisionImpl(const recipes::VisionConfig& config);
  // normal(0, init_std) weights and embeddings, zero biases, unit norms; position embedding with
  // fixed 2-D sin-cos values (CLS row zero) when position_init is sincos.
  void initialize(at::Generator& gen) override;

  // As HF with output_hidden_states: [0] = embeddings after pre_layrnorm, [i] = layer i's output.
  std::vector<at::Tensor> hidden_states(const at::Tensor& pixels, int64_t count = -1) override;
  bool has_class_token() const override { return true; }
  at::TensorOptions options() const override;
  // What a tower of this config holds, without building it.
  static int64_t parameter_count(const recipes::VisionConfig& config);

  ClipTransformer vision_model{nullptr};
};
TORCH_MODULE(ClipVision);

// Fixed 2-D sin-cos position table [1 + grid*grid, dim]: row 0 (CLS) zero; for the patch at
// (row r, column c) the first half of the dims encodes r, the second c, each as [sin, cos] over
// dim/4 frequencies 10000^(-i/(dim/4)).
at::Tensor sincos_position_table(int64_t grid, int64_t dim);

}  // namespace vlm::models
