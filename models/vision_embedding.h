// VoRA's vision embedding layer: the only vision-specific module left at inference. It turns
// pixels into LLM input tokens without a vision encoder:
//
//   tokens = proj(norm(patch_embed(pixels)) + position_embedding)
//
//   "patch_embed.weight" [d_e, 3, p, p], "patch_embed.bias" [d_e]   Conv2d, kernel = stride = p
//   "norm.weight" [d_e]                                              RMSNorm (the LLM's eps)
//   "position_embedding" [P, d_e]                                    learned, one row per patch
//   "proj.weight" [d_h, d_e]                                         Linear, no bias
//
// p and the grid (P = (image_size / p)^2, row-major over the patches) are the distillation
// teacher's (model.vision), so the tokens pair one to one with the teacher's patch features. An
// image of another size (each side a multiple of p) gets the position table resized bilinearly
// (align_corners false, as torch.nn.functional.interpolate's default) to its grid.
//
// The module holds its own parameter ("position_embedding") ahead of its children's in
// named_parameters(): position_embedding, patch_embed.weight, patch_embed.bias, norm.weight,
// proj.weight.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "models/layers.h"
#include "models/lora.h"
#include "recipes/recipe.h"

namespace vlm::models {

// A Conv2d with kernel = stride = patch and a bias (HF's "weight", "bias").
class PatchConvImpl : public torch::nn::Module {
 public:
  PatchConvImpl(int64_t out_channels, int64_t patch);
  at::Tensor forward(const at::Tensor& pixels) const;  // [N, 3, H, W] -> [N, d, H/p, W/p]
  at::Tensor weight;                                   // [d, 3, p, p]
  at::Tensor bias;                                     // [d]

 private:
  int64_t patch_;
};
TORCH_MODULE(PatchConv);

class VisionEmbeddingImpl : public torch::nn::Module {
 public:
  // embedding: d_e; teacher: patch and image size; llm: d_h and the RMSNorm eps. Throws
  // ConfigError naming model.vision_embedding.hidden_size or model.vision.* when they do not fit.
  VisionEmbeddingImpl(const recipes::VisionEmbeddingConfig& embedding,
                      const recipes::VisionConfig& teacher, const recipes::LlmConfig& llm);
  // Conv and proj as torch's defaults (kaiming-uniform, a = sqrt(5); conv bias U(+-1/sqrt(fan_in)),
  // fan_in = 3 p^2), position embedding normal(0, 0.02), norm one; drawn in that order: conv
  // weight, conv bias, position embedding, proj.
  void initialize(at::Generator& gen);

  // [N, 3, H, W] -> [N, (H/p) * (W/p), d_h]. ShapeError when H or W is not a multiple of p.
  at::Tensor forward(const at::Tensor& pixels);
  // The position table for a grid of rows x cols patches: the stored one, or resized to it.
  at::Tensor positions_for(int64_t rows, int64_t cols) const;
  // Tokens of an image at the teacher's size: (image_size / patch_size)^2.
  int64_t tokens_per_image() const { return grid_ * grid_; }

  at::Tensor position_embedding;  // [P, d_e]
  PatchConv patch_embed{nullptr};
  RmsNorm norm{nullptr};
  Linear proj{nullptr};

 private:
  int64_t patch_;
  int64_t grid_;  // patches per side at the teacher's image size
};
TORCH_MODULE(VisionEmbedding);

}  // namespace vlm::models
