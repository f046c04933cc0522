// Inverse-LLaVA's fusion of vision features inside the LLM's attention (paper Eq. 3-5).
//
// A fusion layer adds to each of the Q, K, V projections of its block's attention a term read
// from the attention's input H [B, T, d_h] and the vision stream V [B, T, d_v] (vision features
// at the image slots, zeros at text positions), with N(V) = vision_norm(V) when the layer
// normalises V (fusion.vision_norm) and V otherwise:
//   concat:   Q = q_proj(H) + alpha_q * q_concat(cat[t2v(H), N(V)])   (t2v shared by Q, K, V)
//   additive: Q = q_proj(H) + alpha_q * q_up(GELU(q_down(N(V))))      (the public code)
// and the same for K and V. RoPE then rotates the fused Q and K as it does plain ones. An RMSNorm
// maps a zero row to zero, so text positions still carry no vision.
//
// Parameters sit under the attention module ("model.layers.<l>.self_attn.fusion."), in this
// order: alpha_q, alpha_k, alpha_v ([1] each), vision_norm.weight [d_v] (when normalising), then
// concat: t2v.weight [d_v, d_h], {q,k,v}_concat.weight [out, 2 d_v] (no biases, as Eq. 3-5 write
// them); additive: {q,k,v}_down.{weight [d_h, d_v], bias}, {q,k,v}_up.{weight [out, d_h], bias}
// (with biases, as torch.nn.Linear has them in the public code). out is q_proj's width for Q,
// k_proj's for K, V.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/layers.h"
#include "models/lora.h"
#include "recipes/recipe.h"

namespace vlm::models {

class CausalLmImpl;
class VisionTowerImpl;

// What the fusion adds to each projection's output ([B, T, that projection's width]).
struct FusionDeltas {
  at::Tensor q, k, v;
};

class FusionImpl : public torch::nn::Module {
 public:
  // Allocates only. hidden: d_h; q_width and kv_width: q_proj's and k_proj's (= v_proj's) output
  // widths; vision_width: d_v. Reads config.mode (ConfigError naming model.fusion.mode for a
  // word outside its list) and config.vision_norm.
  FusionImpl(const recipes::FusionConfig& config, int64_t hidden, int64_t q_width, int64_t kv_width,
             int64_t vision_width);
  // Alphas config.alpha_init, the norm's weight one; the weights by config.init (recipe.h):
  // public_code concat t2v normal(0, 1/sqrt(d_v)) then {q,k,v}_concat normal(0, 1e-4); public_code
  // additive torch.nn.Linear's default for q_down, q_up, k_down, ... in that order; llm_std every
  // weight normal(0, llm_std) and biases zero.
  void initialize(const recipes::FusionConfig& config, double llm_std, at::Generator& gen);

  // hidden [B, T, d_h]: the attention's input (after input_layernorm). vision [B, T, d_v]; an
  // undefined tensor stands for a stream of zeros (a batch without images), so that text-only
  // batches see the same function as text positions of image batches.
  FusionDeltas forward(const at::Tensor& hidden, const at::Tensor& vision);

  bool concat_mode() const { return concat_; }
  int64_t vision_width() const { return vision_width_; }

  at::Tensor alpha_q, alpha_k, alpha_v;
  RmsNorm vision_norm{nullptr};  // only when normalising
  Linear t2v{nullptr}, q_concat{nullptr}, k_concat{nullptr}, v_concat{nullptr};
  Linear q_down{nullptr}, q_up{nullptr}, k_down{nullptr}, k_up{nullptr}, v_down{nullptr},
      v_up{nullptr};

 private:
  bool concat_;
  int64_t vision_width_;
};
TORCH_MODULE(Fusion);

// The vision stream's width d_v: the number of fusion.vision_layers times the tower's width.
// ConfigError naming model.fusion.vision_layers for an entry outside the tower's hidden states.
int64_t fusion_vision_width(const recipes::VisionConfig& vision,
                            const recipes::FusionConfig& fusion);

// Registers a Fusion module on the attention of each block in config.layers and initialises it
// from init::generator(seed, "fusion") (FusionImpl::initialize, in ascending block order).
// ConfigError naming model.fusion.* for an unknown mode, a block out of range, a repeated block, an
// empty list or a non-positive vision width; also when the LLM already fuses.
void add_fusion(CausalLmImpl& llm, const recipes::FusionConfig& config, int64_t vision_width,
                uint64_t seed);

// The vision features Inverse-LLaVA fuses: the hidden states named by vision_layers (HF indexing:
// [0] embeddings, [i] layer i, negative from the end) concatenated on the feature axis, CLS
// dropped when the tower's drop_cls is set. pixels [N, 3, H, W] -> [N, tokens_per_image, d_v].
at::Tensor fusion_features(VisionTowerImpl& vision, const at::Tensor& pixels,
                           const std::vector<int64_t>& vision_layers);

// Whether a parameter name ("llm.model.layers.0.self_attn.fusion.t2v.weight", or the same
// without the "llm." prefix) belongs to a fusion module.
bool is_fusion_parameter(const std::string& name);

}  // namespace vlm::models
