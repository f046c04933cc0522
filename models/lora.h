// A Linear layer that can carry a LoRA adapter, and the tree-wide operations on adapters.
//
//   y = W x + b + (alpha / r) * B (A (dropout(x)))
//
// Parameter names sit next to the base weight, as in "q_proj.weight", "q_proj.lora_A.weight"
// ([r, in]) and "q_proj.lora_B.weight" ([out, r]).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/layers.h"
#include "recipes/recipe.h"

namespace vlm::models {

// LoRA's dropout of a layer's input (p in [0, 1)): torch's distribution and scaling, with masks
// from one draw of the default CPU generator per call (lora.cc says why).
at::Tensor lora_dropout(const at::Tensor& x, double p);

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias);
  at::Tensor forward(const at::Tensor& x) const;

  // Base weight normal(0, std), bias zero (the LLM and ViT convention).
  void init_normal(double std, at::Generator& gen);
  // torch.nn.Linear's default initialisation (the projector's convention).
  void init_torch_default(at::Generator& gen);

  // Adds lora_A (kaiming-uniform from gen) and lora_B (zero), in the base weight's dtype.
  void add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen);
  // W += scale * B A, then drops the adapter.
  void merge_lora();
  bool has_lora() const { return lora_a_.defined(); }
  // B = 0: the adapter then adds nothing (after loading weights that already contain it).
  void zero_lora_b();
  // W + scale * B A as a new tensor; the live weight is left as it is.
  at::Tensor merged_weight() const;
  double lora_scale() const { return lora_scale_; }

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined

 private:
  at::Tensor lora_a_;  // [r, in]
  at::Tensor lora_b_;  // [out, r]
  double lora_scale_ = 0.0;
  double lora_dropout_ = 0.0;
};
TORCH_MODULE(Linear);

// Adds LoRA to every Linear under root whose module name ends in one of config.targets (a
// whole dotted component: "q_proj" matches "model.layers.0.self_attn.q_proj"). Returns the
// names of the adapted modules. Throws ConfigError when a target matches nothing or an adapter is
// already there.
// config.layers (when not empty) limits adapters to those blocks ("model.layers.<i>."), and
// excluded_layers never get one (Inverse-LLaVA's fusion blocks).
std::vector<std::string> add_lora(torch::nn::Module& root, const recipes::LoraConfig& config,
                                  uint64_t seed, const std::vector<int64_t>& excluded_layers = {});
// Merges and drops every adapter under root; returns how many there were.
int64_t merge_lora(torch::nn::Module& root);
bool is_lora_parameter(const std::string& name);

}  // namespace vlm::models
