// The vision-language model: CLIP-style ViT -> projector -> decoder LLM, with HF parameter names.
// It knows nothing of MPI or sharding: it declares its sharding units as plain data.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::models {

// Token id that marks an image slot in input_ids (LLaVA's IMAGE_TOKEN_INDEX).
constexpr int64_t kImageSlot = -200;
constexpr int64_t kIgnoreLabel = -100;

// What one forward pass needs. input_ids holds kImageSlot at every image-token position; the
// images fill those slots in order (row-major over the batch).
struct ModelInputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor images;          // [N, 3, H, W] float, normalized; undefined or N == 0: no images
  at::Tensor attention_mask;  // [B, 1, T, T] additive float (0 or -inf), see attention_mask.h
  at::Tensor position_ids;    // [B, T] int64; undefined: 0..T-1
};

struct ModelOutputs {
  at::Tensor logits;                      // [B, T, V]
  at::Tensor last_hidden;                 // [B, T, d_h], after the final norm (before lm_head)
  std::vector<at::Tensor> block_hiddens;  // each block's output [B, T, d_h], when asked
  // projector output [N, P, d_h] (inverse_llava: the fused vision features [N, P, d_v]);
  // undefined: no images
  at::Tensor image_embeds;
  // [B, T, d_h]: token embeddings with images spliced in (inverse_llava: zeros at the image slots)
  at::Tensor input_embeds;
};

// A sharding unit: a group of parameters gathered and freed together (one per transformer
// block, plus embeddings, head, vision tower, projector). Plain data for sharding/.
struct ShardingUnit {
  std::string name;                      // "llm.layers.3", "llm.embed_tokens", "vision", ...
  std::vector<std::string> param_names;  // full names as in named_parameters()
  std::vector<std::string> reads;        // other units whose parameters it also reads
  // False when its backward needs none of its own parameters (a lookup table's gradient is a
  // scatter of the output's): stage 3 then does not gather it again for backward.
  bool backward_reads_parameters = true;
};

// Told around each sharding unit's computation, so sharding/ can gather a unit's parameters
// just before it runs and free them after, without models/ knowing of ranks. before() is called
// before the unit reads any parameter; after() with the unit's output, and the model continues
// with what after() returns (the same tensor, possibly with a gradient hook attached). A unit may
// also read another unit's parameters (the tied LM head reads the embedding): `reads` in
// ShardingUnit says so, and the observer gathers both.
class UnitObserver {
 public:
  virtual ~UnitObserver() = default;
  virtual void before(const std::string& unit) = 0;
  virtual at::Tensor after(const std::string& unit, at::Tensor output) = 0;
  // Whether a transformer block should keep no activations and recompute them in backward.
  virtual bool recompute(const std::string& /*unit*/) const { return false; }
};

class VisionLanguageModelImpl;

// Owns the three parts, registered in this order. Parameter names (named_parameters()) follow HF:
//   "vision.vision_model.encoder.layers.0.mlp.fc1.weight"   (CLIPVisionModel under "vision.")
//   "vision.trunk.blocks.0.attn.qkv.weight"   (model.vision.type aimv2: AIMv2Model, models/aimv2.h)
//   "projector.0.weight", "projector.2.weight"   (mlp2x_gelu; linear has "projector.0.*" only)
//   "llm.model.layers.0.self_attn.q_proj.weight"   (LlamaForCausalLM / Qwen2ForCausalLM under
//   "llm.") "llm.model.layers.0.self_attn.q_proj.lora_A.weight" ([r, in]) and "...lora_B.weight"
//   ([out, r]) once add_lora() ran. With tie_word_embeddings there is no "llm.lm_head.weight" (the
//   head uses "llm.model.embed_tokens.weight"), as in HF's state dict.
// architecture inverse_llava adds "llm.model.layers.<l>.self_attn.fusion.*" to the fusion blocks
// (models/fusion.h) and feeds the vision features beside the tokens (models/inverse_llava.h).
// vision.type none: no tower and no "vision." names; projector.type none: no "projector." names
// (the image features then go into the LLM as they are and must have its width).
// architecture vora (models/vora.h): "vision_embedding." (models/vision_embedding.h) turns the
// images into LLM tokens in place of ViT and projector; "vision." is the distillation teacher
// only; "aux_heads.<i>." exist between add_aux_heads() and drop_aux_heads(). Their
// initialisation: models/vision_embedding.h and models/vora.h.
//
// Initialisation is a pure function of (config, seed): each part draws from its own stream of a
// local generator (never torch's global RNG): LLM and vision weights normal(0, init_std), biases
// zero, norms one (vision position_init sincos: fixed 2-D sin-cos rows, CLIP's CLS row zero;
// AIMv2's learned pos_embed normal(0, 0.02)); projector as torch.nn.Linear's default. A part
// whose hf_path is set is instead built from that folder's config.json and loaded from its
// weights (see load_hf); config() then reports the file's shapes.
//
// Errors: ConfigError for bad configs (naming the model.* key), ShapeError for inputs or weights
// that do not fit, FormatError / IoError for unreadable files.
class VisionLanguageModel {
 public:
  // vocab_size: the tokenizer's size including added tokens (used when config.llm.vocab_size is 0;
  // with llm.hf_path the checkpoint's rows are loaded, then grown to vocab_size when the tokenizer
  // is larger: see grow_vocabulary in model_impl.h). The parameters are made on `device`; on the
  // meta device the model has every name and shape and no values, and hf_path folders give their
  // config.json only (no weights are read): vlm-worker --plan.
  VisionLanguageModel(const recipes::ModelSection& config, int64_t vocab_size, uint64_t seed,
                      at::Device device = at::kCPU);
  ~VisionLanguageModel();
  VisionLanguageModel(VisionLanguageModel&&) noexcept;
  VisionLanguageModel& operator=(VisionLanguageModel&&) noexcept;

  // Embeds input_ids, runs the images through the ViT (under no-grad when no vision parameter
  // requires grad) and the projector, writes the image embeddings into the kImageSlot positions
  // in order (row-major over the batch; differentiable), then runs the LLM. The number of slots
  // must equal N * image_tokens_per_image() (ShapeError otherwise). An undefined attention_mask
  // means plain causal attention; the mask is converted to the model's dtype.
  ModelOutputs forward(const ModelInputs& inputs, bool want_block_hiddens = false);
  // The vision tower's hidden states ([0] = the embedding output entering the first block, [i] =
  // block i's output; models/vision_tower.h), e.g. for a distillation teacher. Runs with grad as
  // the caller's mode says.
  std::vector<at::Tensor> vision_hidden_states(const at::Tensor& images);

  // Applies LoRA (rank > 0; rank 0 does nothing) to the LLM's Linear layers whose names end in one
  // of config.targets (lm_head only if named). A-factors come from a generator seeded by seed.
  // ConfigError if a target matches nothing or LoRA is already applied.
  void add_lora(const recipes::LoraConfig& config, uint64_t seed);
  // Folds LoRA into the base weights (W += scale * B A) and drops the LoRA parameters.
  void merge_lora();
  bool has_lora() const;

  // Gives the embedding rows of `ids` a parameter of their own,
  // "llm.model.embed_tokens.added.weight" (trainable group added_tokens), so a new token such as
  // VDEP's <auto_image> learns while the LLM stays frozen. fold_token_embeddings() writes them
  // back into the table and drops the parameter (at the stage's end, before export).
  void separate_token_embeddings(const std::vector<int64_t>& ids);
  void fold_token_embeddings();

  // VoRA, see models/vora.h. add_aux_heads is a structural step like add_lora: AuxHead_i for
  // each block distill.mode selects, drawn from the seed's "aux_heads" stream, in the LLM's dtype
  // (ConfigError for another architecture, a dropped teacher or heads already there).
  // drop_aux_heads removes them (no-op without). drop_teacher removes the "vision." tower and its
  // parameters for good (ConfigError for another architecture or while aux heads remain).
  void add_aux_heads(const recipes::DistillConfig& config, uint64_t seed);
  void drop_aux_heads();
  bool has_aux_heads() const;
  void drop_teacher();
  bool has_teacher() const;  // a vora model that still has its teacher

  // Sets requires_grad by group: exactly the parameters of the named groups train, every other is
  // frozen. Groups: vision, projector, llm (every LLM parameter except LoRA's and fusion's), lora,
  // embed_tokens, lm_head (the embedding when tied), fusion (inverse_llava's fusion modules:
  // "llm.model.layers.<l>.self_attn.fusion.*"), added_tokens (the rows
  // separate_token_embeddings() made), vision_embedding and aux_heads (VoRA). ConfigError for an
  // unknown group or one that selects nothing.
  void set_trainable(const std::vector<std::string>& groups);

  // Every parameter by its full name ("vision.", "projector.", "llm." prefixes), in a fixed order
  // (registration order: vision, projector, vision_embedding, llm, aux_heads; within a module,
  // HF's order; LoRA factors right after the weight they adapt). Tied weights appear once. The
  // layers hold these same tensor handles: change values in place (copy_, set_data), never by
  // swapping in other tensor objects.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  // Forward order: "vision", "projector", "llm.embed_tokens", "llm.layers.0".."llm.layers.N-1"
  // (with their LoRA factors), "llm.head" (final norm + lm_head). VoRA: "vision_embedding" before
  // "llm.embed_tokens", and the teacher "vision" and "aux_heads" after "llm.head", where the
  // distillation loss uses them (distillation_terms). Every parameter is in exactly
  // one unit; units without parameters are left out. With tied embeddings the head also reads
  // "llm.model.embed_tokens.weight", which belongs to the "llm.embed_tokens" unit.
  std::vector<ShardingUnit> sharding_units() const;

  // Observer of unit boundaries in forward(); nullptr (the default): none. Not owned.
  void set_unit_observer(UnitObserver* observer);

  // Train/eval mode (LoRA dropout).
  void train(bool on);

  // HF import/export. A folder holds config.json + model.safetensors (or shards with
  // model.safetensors.index.json). Part is "llm" or "vision". The config.json must agree with the
  // model on the scalar settings (ConfigError otherwise); tensor names and shapes must agree
  // exactly (ShapeError listing every missing, unexpected and misshapen name). Known
  // non-parameters are skipped (rotary inv_freq, position_ids, a whole CLIPModel's text side,
  // lm_head.weight when tied). Values are converted to the parameters' dtype. LoRA factors, if
  // any, are left as they are.
  void load_hf(const std::string& part, const std::string& folder);
  // Writes llm/ (LoRA merged into a copy; the live model keeps its adapters; inverse_llava's
  // fusion parameters under their names, which load_hf skips and load_saved reads), vision/ and
  // projector.safetensors (LLaVA's names: "model.mm_projector.0.weight", ...) under folder, in the
  // parameters' dtype. VoRA: vision_embedding.safetensors (named as in named_parameters()), and
  // vision/ only while the teacher is there; aux heads are training-only and not written.
  void save_hf(const std::string& folder) const;
  // Loads what save_hf wrote (the parts this model has). Its LLM weights already contain any LoRA,
  // so live LoRA adapters are zeroed (B = 0) to compute exactly what was saved.
  void load_saved(const std::string& folder);

  // The effective config (shapes read from hf_path folders, vocab_size filled in).
  const recipes::ModelSection& config() const;
  // Image tokens each image fills: (image_size / patch_size)^2, + 1 if CLIP's class token is
  // kept; 0 without a vision tower. VoRA: the vision embedding's (image_size / patch_size)^2.
  int64_t image_tokens_per_image() const;
  int64_t vocab_size() const;
  // The module tree, for code that needs torch::nn access (e.g. to(dtype)).
  torch::nn::Module& module();

  VisionLanguageModelImpl& impl();  // the parts (models/model_impl.h), for tests and tools

 private:
  std::unique_ptr<VisionLanguageModelImpl> impl_;
};

}  // namespace vlm::models
