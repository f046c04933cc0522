// VoRA (Vision as LoRA): the parts beside the vision embedding layer (models/vision_embedding.h).
//
// Training: the LLM gets LoRA on its first N_vit blocks (lora.layers) and, per distilled block i,
// an AuxHead_i = Linear(d_h -> d_vit, no bias) after RMSNorm(d_h) that maps the LLM's hidden
// state after block i at each image token onto the frozen teacher ViT's hidden state after its
// layer i at the same patch (cosine distance). Names:
//   "aux_heads.<i>.norm.weight" [d_h], "aux_heads.<i>.proj.weight" [d_vit, d_h]
// in one sharding unit "aux_heads" and one trainable group "aux_heads". The teacher is the model's
// "vision." tower (model.vision), used only here.
//
// The encoder-free end: merge_lora(), drop_aux_heads(), drop_teacher(); the forward pass never
// used the heads or the teacher, so its logits stay the same. A model for evaluation without the
// teacher's weights: construct it from the recipe's model section with model.vision.hf_path
// cleared (the teacher's shapes still set the patch grid), call drop_teacher(), then
// load_saved(folder) with what save_hf wrote (llm/ and vision_embedding.safetensors).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "models/lora.h"
#include "models/model.h"
#include "models/vision_embedding.h"
#include "recipes/recipe.h"

namespace vlm::models {

class AuxHeadImpl : public torch::nn::Module {
 public:
  AuxHeadImpl(int64_t llm_width, int64_t teacher_width, double eps);
  at::Tensor forward(const at::Tensor& hidden);  // [..., d_h] -> [..., d_vit]
  RmsNorm norm{nullptr};
  Linear proj{nullptr};
};
TORCH_MODULE(AuxHead);

// One head per distilled block, registered under the block's number ("1".."N_vit").
class AuxHeadsImpl : public torch::nn::Module {
 public:
  AuxHeadsImpl(const std::vector<int64_t>& blocks, int64_t llm_width, int64_t teacher_width,
               double eps);
  // Norms one; proj torch.nn.Linear's default (kaiming-uniform, a = sqrt(5)), in block order.
  void initialize(at::Generator& gen);
  const std::vector<int64_t>& blocks() const { return blocks_; }  // ascending, 1-based
  AuxHead& head(size_t k) { return heads_.at(k); }                // of blocks()[k]

 private:
  std::vector<int64_t> blocks_;
  std::vector<AuxHead> heads_;
};
TORCH_MODULE(AuxHeads);

// The LLM blocks (1-based: block i's output is ModelOutputs::block_hiddens[i - 1]) that
// distill.mode selects for a teacher of teacher_layers layers: all_blocks 1..N_vit, last_block
// N_vit alone. ConfigError naming distill.mode for another mode.
std::vector<int64_t> distilled_blocks(const recipes::DistillConfig& config, int64_t teacher_layers);

// The vision embedding layer of an architecture vora model, initialised from the seed's
// "vision_embedding" stream. model must be the effective config (teacher shapes, LLM width).
// ConfigError when the teacher is missing (model.vision.type none), a projector is set, or the
// teacher has more layers than the LLM (model.vision.num_layers > model.llm.num_layers).
VisionEmbedding make_vision_embedding(const recipes::ModelSection& model, uint64_t seed);

// save_hf / load_saved's part for the vision embedding: <folder>/vision_embedding.safetensors
// with the names of named_parameters() ("vision_embedding.patch_embed.weight", ...).
void save_vision_embedding(const torch::nn::Module& embedding, const std::string& folder);
void load_vision_embedding(const torch::nn::Module& embedding, const std::string& folder);

// Block-wise distillation for one micro batch, as sums the trainer divides by the global count.
struct DistillationTerms {
  // (block i, SUM over the image tokens of (1 - cos(AuxHead_i(h_i), t_i))), differentiable in the
  // heads, the LLM (LoRA) and the vision embedding. One entry per aux head, in block order; with
  // no images in the batch each sum is a constant zero.
  std::vector<std::pair<int64_t, at::Tensor>> block_sums;
  int64_t image_tokens = 0;  // the tokens each sum runs over (all images' patch tokens)
};

// outputs: forward(inputs, /*want_block_hiddens=*/true) of the same inputs. Student tokens are
// the image slot positions in slot order (row-major over the batch), the targets the teacher's
// hidden states at its patch tokens (token 0 dropped only for a teacher with a class token, CLIP;
// AIMv2 has none), computed under no-grad; the cosine is taken in
// at least fp32. Tells the unit observer of "vision" (the teacher) and "aux_heads" around their
// use. ConfigError without aux heads or teacher; ShapeError when outputs lack block hiddens or
// the slots do not pair with the teacher's patches (e.g. images not at model.vision.image_size).
DistillationTerms distillation_terms(VisionLanguageModel& model, const ModelOutputs& outputs,
                                     const ModelInputs& inputs);

}  // namespace vlm::models
