// Small layers with HF parameter names ("weight", "bias") whose constructors only allocate:
// torch::nn's own layers initialise from the global RNG, which we must not touch (init.h does).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace vlm::models {

// Where the layers' constructors put new parameters: the CPU unless a ParameterPlacement says
// otherwise on this thread. Under the meta device a model has every name and shape and no memory
// (vlm-worker --plan builds a 7B model that way); under a CUDA device it is built where it trains.
class ParameterPlacement {
 public:
  explicit ParameterPlacement(at::Device device);
  ~ParameterPlacement();
  ParameterPlacement(const ParameterPlacement&) = delete;
  ParameterPlacement& operator=(const ParameterPlacement&) = delete;

  // fp32 on the device in effect on this thread.
  static at::TensorOptions options();

 private:
  at::Device previous_;
};

// Uninitialised, zero and one-filled parameter values where ParameterPlacement says.
at::Tensor new_parameter(at::IntArrayRef shape);
at::Tensor zero_parameter(at::IntArrayRef shape);
at::Tensor one_parameter(at::IntArrayRef shape);

// A module holding just a "weight" (HF's nn.Embedding, Conv2d without bias, LoRA factors).
class WeightImpl : public torch::nn::Module {
 public:
  explicit WeightImpl(at::IntArrayRef shape);
  explicit WeightImpl(const at::Tensor& value);
  at::Tensor weight;
};
TORCH_MODULE(Weight);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;

  // Gives the rows of `ids` a parameter of their own, "added.weight" [ids, dim], starting from
  // their current values, so they can train while the table stays frozen (VDEP's <auto_image>).
  void separate_rows(const std::vector<int64_t>& ids);
  // Writes the separate rows back into the table and drops them.
  void fold_separate_rows();
  bool has_separate_rows() const { return !separate_ids_.empty(); }

  at::Tensor weight;  // [count, dim]

 private:
  std::vector<int64_t> separate_ids_;
  at::Tensor separate_;  // [separate_ids_.size(), dim]
};
TORCH_MODULE(Embedding);

// LLaMA's RMSNorm; statistics in at least fp32 as HF does for bf16 runs.
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

// silu(gate) * up, LLaMA's and AIMv2's MLP activation (one autograd node on CPU float/double).
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;
  at::Tensor bias;

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm);

}  // namespace vlm::models
