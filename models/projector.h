// LLaVA's projector from vision features to LLM embeddings: mlp2x_gelu is "0" Linear(d_v, d_h),
// GELU, "2" Linear(d_h, d_h); linear is "0" alone (names as in LLaVA's nn.Sequential).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>

#include "models/lora.h"
#include "recipes/recipe.h"

namespace vlm::models {

class ProjectorImpl : public torch::nn::Module {
 public:
  // type: mlp2x_gelu | linear (none means no projector module at all).
  ProjectorImpl(recipes::ProjectorType type, int64_t vision_dim, int64_t llm_dim);
  // torch.nn.Linear's default initialisation, drawn from gen.
  void initialize(at::Generator& gen);
  at::Tensor forward(const at::Tensor& features);  // [..., d_v] -> [..., d_h]

  Linear first{nullptr};   // "0"
  Linear second{nullptr};  // "2", mlp2x_gelu only
};
TORCH_MODULE(Projector);

}  // namespace vlm::models
