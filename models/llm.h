// Decoder LLM in HF LlamaForCausalLM / Qwen2ForCausalLM layout:
//   model.embed_tokens, model.layers.<i>.{input_layernorm, self_attn.{q,k,v,o}_proj,
//   post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head
// (lm_head is absent when tied to the embedding, as in HF's state dict).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "models/fusion.h"
#include "models/layers.h"
#include "models/lora.h"
#include "models/rope.h"
#include "recipes/recipe.h"

namespace vlm::models {

class LlmAttentionImpl : public torch::nn::Module {
 public:
  explicit LlmAttentionImpl(const recipes::LlmConfig& config);
  // vision: Inverse-LLaVA's vision stream [B, T, d_v], read only when this block fuses (see
  // fusion.h; undefined there means zeros).
  at::Tensor forward(const at::Tensor& x, const RotaryAngles& angles, const at::Tensor& mask,
                     const at::Tensor& vision = {});
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Fusion fusion{nullptr};  // null unless add_fusion() chose this block

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlmAttention);

class SwiGluImpl : public torch::nn::Module {
 public:
  SwiGluImpl(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGlu);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const recipes::LlmConfig& config);
  at::Tensor forward(const at::Tensor& x, const RotaryAngles& angles, const at::Tensor& mask,
                     const at::Tensor& vision = {});
  bool fuses() const { return static_cast<bool>(self_attn->fusion); }
  LlmAttention self_attn{nullptr};
  SwiGlu mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// HF's LlamaModel: the "model." part.
class DecoderStackImpl : public torch::nn::Module {
 public:
  DecoderStackImpl(const recipes::LlmConfig& config, int64_t vocab_size);
  Embedding embed_tokens{nullptr};
  std::vector<DecoderLayer> layers;
  RmsNorm norm{nullptr};
};
TORCH_MODULE(DecoderStack);

class UnitObserver;

struct LlmHiddens {
  at::Tensor last_hidden;                 // after the final norm
  std::vector<at::Tensor> block_hiddens;  // each block's output, when asked
};

class CausalLmImpl : public torch::nn::Module {
 public:
  // Allocates only; call initialize() for random weights (or load real ones).
  CausalLmImpl(const recipes::LlmConfig& config, int64_t vocab_size);
  // normal(0, init_std) weights, zero biases, unit norms.
  void initialize(at::Generator& gen);

  at::Tensor embed(const at::Tensor& ids);  // [B, T] -> [B, T, d]
  // Blocks and final norm over input embeddings [B, T, d]. position_ids [B, T] or undefined;
  // mask additive [B or 1, 1, T, T] in the embeddings' dtype. An observer is told of each block
  // ("llm.layers.<i>") and of the head's start ("llm.head"; its after() is the caller's, with
  // the logits). vision_stream [B, T, d_v] (Inverse-LLaVA; undefined: none) goes to the blocks
  // that fuse, and only to them.
  LlmHiddens run(const at::Tensor& embeds, const at::Tensor& position_ids, const at::Tensor& mask,
                 bool keep_block_hiddens, UnitObserver* observer = nullptr,
                 const at::Tensor& vision_stream = {});
  at::Tensor logits(const at::Tensor& last_hidden);
  // The LM head's weight: lm_head.weight, or the embedding when tied.
  const at::Tensor& head_weight() const;

  const recipes::LlmConfig& config() const { return config_; }
  int64_t vocab_size() const { return vocab_size_; }
  // Appends rows to the input embedding and the (untied) LM head up to `rows`, each new row the
  // mean of the existing ones, in place (the parameter tensors keep their identity).
  void grow_vocabulary(int64_t rows);

  DecoderStack model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  recipes::LlmConfig config_;
  int64_t vocab_size_;
  RotaryTable rope_;
};
TORCH_MODULE(CausalLm);

// Throws ConfigError naming model.llm.<key> when the shapes do not fit together.
void validate_llm_config(const recipes::LlmConfig& config, int64_t vocab_size);
int64_t kv_heads_of(const recipes::LlmConfig& config);

}  // namespace vlm::models
