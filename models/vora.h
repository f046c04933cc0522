// VoRA (Vision as LoRA): the parts beside the vision embedding layer (models/vision_embedding.h).
//
// Training: the LLM gets LoRA on its first N_vit blocks (lora.layers) and, per distilled teacher
// block i, an AuxHead_i = Linear(d_h -> d_vit, no bias) after RMSNorm(d_h) that maps an LLM hidden
// state at each image token onto the frozen teacher ViT's hidden state after its layer i at the
// same patch (cosine distance). Which LLM state is distill.pairing's: paper, the state after LLM
// block i; public_code, the state entering LLM block i (for i = 1 the input embeddings, the
// vision embedding's output at the image slots). Names:
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
#include "models/vision_tower.h"
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

// One head per distilled teacher block, registered under the block's number ("1".."N_vit").
class AuxHeadsImpl : public torch::nn::Module {
 public:
  // student_lag: how many LLM blocks the student state lies behind its teacher block (0: paper
  // pairing, 1: public_code).
  AuxHeadsImpl(const std::vector<int64_t>& blocks, int64_t llm_width, int64_t teacher_width,
               double eps, int64_t student_lag = 0);
  // Norms one; proj torch.nn.Linear's default (kaiming-uniform, a = sqrt(5)), in block order.
  void initialize(at::Generator& gen);
  const std::vector<int64_t>& blocks() const { return blocks_; }  // ascending, 1-based
  AuxHead& head(size_t k) { return heads_.at(k); }                // of blocks()[k]
  // The LLM state head k reads: 0 the input embeddings, j the output of LLM block j.
  int64_t student_state(size_t k) const { return blocks_.at(k) - student_lag_; }

 private:
  std::vector<int64_t> blocks_;
  std::vector<AuxHead> heads_;
  int64_t student_lag_;
};
TORCH_MODULE(AuxHeads);

// The teacher blocks (1-based) that distill.mode selects for a teacher of teacher_layers layers:
// all_blocks 1..N_vit, last_block N_vit alone. ConfigError naming distill.mode for another mode.
std::vector<int64_t> distilled_blocks(const recipes::DistillConfig& config, int64_t teacher_layers);

// How many LLM blocks the student state of teacher block i lies behind block i's output: 0 for
// distill.pairing paper, 1 for public_code.
int64_t student_lag(const recipes::DistillConfig& config);

// The vision embedding layer of an architecture vora model, initialised from the seed's
// "vision_embedding" stream. model must be the effective config (teacher shapes, LLM width).
// ConfigError when the teacher is missing (model.vision.type none), a projector is set, the
// teacher has more layers than the LLM (model.vision.num_layers > model.llm.num_layers), or
// model.vision_embedding.init is teacher but the teacher is not AIMv2 or d_e not its width.
VisionEmbedding make_vision_embedding(const recipes::ModelSection& model, uint64_t seed);

// model.vision_embedding.init teacher, after the teacher is loaded: patch_embed, norm and
// position_embedding become the AIMv2 teacher's preprocessor.patchifier.proj, .patchifier.norm and
// .pos_embed; proj keeps its draw. Read from the safetensors of teacher_folder
// (model.vision.hf_path) when it is set, each tensor's shape checked before it is read (ShapeError
// naming the folder, the tensor and both shapes), else copied from the live teacher (drawn from the
// seed). Does nothing on the meta device: the input check holds the folder's headers to the
// teacher's shapes, and make_vision_embedding the teacher's width to d_e.
void init_vision_embedding_from_teacher(VisionEmbeddingImpl& embedding, VisionTowerImpl& teacher,
                                        const std::string& teacher_folder);

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
// the image slot positions in slot order (row-major over the batch) of the LLM state each head
// reads (AuxHeadsImpl::student_state), the targets the teacher's
// hidden states at its patch tokens (token 0 dropped only for a teacher with a class token, CLIP;
// AIMv2 has none), computed under no-grad; the cosine is taken in
// at least fp32. Tells the unit observer of "vision" (the teacher) and "aux_heads" around their
// use. ConfigError without aux heads or teacher; ShapeError when outputs lack block hiddens or
// the slots do not pair with the teacher's patches (e.g. images not at model.vision.image_size).
DistillationTerms distillation_terms(VisionLanguageModel& model, const ModelOutputs& outputs,
                                     const ModelInputs& inputs);

}  // namespace vlm::models
