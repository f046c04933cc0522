// The typed recipe: one struct per YAML section. recipes::load() fills and validates it; every
// component receives only its own section. Field names equal the YAML keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/backend.h"

namespace vlm::recipes {

// The decoder LLM's family (HF config.json's model_type).
enum class LlmFamily {
  kLlama,  // "llama": LLaMA, Vicuna
  kQwen2,  // "qwen2": Qwen2, Qwen2.5 (a bias on q, k and v)
};
const std::string& name_of(LlmFamily family);  // its YAML word, and its HF model_type

// Decoder LLM (LLaMA/Vicuna and Qwen2 families), HF config.json field meanings.
struct LlmConfig {
  LlmFamily family = LlmFamily::kLlama;  // llama | qwen2
  int64_t vocab_size = 0;                // 0: taken from the tokenizer (plus added tokens)
  int64_t hidden_size = 128;
  int64_t intermediate_size = 344;
  int64_t num_layers = 4;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 0;  // 0: same as num_heads (no GQA)
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool qkv_bias = false;  // true for qwen2
  int64_t max_position = 2048;
  bool tie_word_embeddings = false;
  double init_std = 0.02;
  std::string hf_path;  // a HF model folder (config.json + safetensors); empty: random init
};

// The vision tower: CLIP's ViT (HF CLIPVisionModel) or AIMv2's (HF remote-code AIMv2Model: no
// class token, RMSNorm, SwiGLU). For VoRA it describes the teacher. With hf_path the folder's
// config.json gives the architecture fields and must have this type.
enum class VisionType {
  kClip,   // "clip": HF CLIPVisionModel
  kAimv2,  // "aimv2": HF remote-code AIMv2Model
  kNone,   // "none": no vision tower
};
const std::string& name_of(VisionType type);  // its YAML word

// How the tower's position embeddings start.
enum class PositionInit {
  kLearned,  // "learned": drawn like the other weights, then trained
  kSincos,   // "sincos": fixed 2-D sin-cos values at init
};
const std::string& name_of(PositionInit init);  // its YAML word

struct VisionConfig {
  VisionType type = VisionType::kClip;  // clip | aimv2 | none
  int64_t image_size = 32;
  int64_t patch_size = 8;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 256;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t feature_layer = -2;  // hidden state index LLaVA takes (-2: penultimate layer)
  bool drop_cls = true;        // LLaVA's "patch" feature select; false for aimv2 (no class token)
  PositionInit position_init = PositionInit::kLearned;  // learned | sincos
  double layer_norm_eps = 1e-5;                         // clip's LayerNorms
  double rms_norm_eps = 1e-5;                           // aimv2's RMSNorms
  bool qkv_bias = false;  // aimv2: a bias on attn.qkv (CLIP's q/k/v always have one)
  bool use_bias = false;  // aimv2: biases on attn.proj and mlp.fc1/fc2/fc3 (HF's use_bias)
  double init_std = 0.02;
  std::string hf_path;
};

// LLaVA's projector from vision features to LLM embeddings.
enum class ProjectorType {
  kMlp2xGelu,  // "mlp2x_gelu": Linear, GELU, Linear (LLaVA-1.5)
  kLinear,     // "linear": one Linear (LLaVA-1)
  kNone,       // "none": no projector (inverse_llava, vora)
};
const std::string& name_of(ProjectorType type);  // its YAML word

struct ProjectorConfig {
  ProjectorType type = ProjectorType::kMlp2xGelu;  // mlp2x_gelu | linear | none
};

// How Inverse-LLaVA's fusion adds the vision stream to Q, K and V (YAML: fusion.mode).
enum class FusionMode {
  kConcat,    // "concat": alpha W_concat [W_t2v H ; V] (paper Eq. 3-5)
  kAdditive,  // "additive": alpha Linear2(GELU(Linear1(V))) (the public code)
};
const std::string& name_of(FusionMode mode);  // its YAML word

// How the fusion weights start (YAML: fusion.init). The paper gives no initialisation.
enum class FusionInit {
  // public_code: the public code's for the mode; concat as its commented-out concat layer (W_t2v
  // normal(0, 1/sqrt(d_v)), W_concat normal(0, 1e-4): alpha 1 barely moves the frozen Q, K, V at
  // step 0), additive as its active layer (torch.nn.Linear's defaults).
  kPublicCode,
  // llm_std: every weight normal(0, llm.init_std), biases zero (the form before issue 19).
  kLlmStd,
};

// RMSNorm(d_v) (weight one, eps 1e-6, trainable) on V before it enters the fusion (YAML:
// fusion.vision_norm).
enum class FusionVisionNorm {
  kAuto,  // auto: rms for concat, none for additive, as the public code's two layers have it
  kRms,
  kNone,
};

// Inverse-LLaVA (architecture inverse_llava): no projector; the vision features stay d_v wide in
// a stream parallel to the text stream and enter the Q, K, V projections of the chosen layers.
struct FusionConfig {
  std::vector<int64_t> layers = {0};  // LLM blocks that fuse (the paper warns against several)
  // concat: Q = W_Q H + alpha_Q W_concat^Q [W_t2v H ; V] (paper Eq. 3-5);
  // additive: Q = W_Q H + alpha_Q Linear2(GELU(Linear1(V))) (the public code).
  FusionMode mode = FusionMode::kConcat;
  // Vision hidden states concatenated into V (d_v = their count x vision width): [-1] the last
  // layer; [-2, -1] the HD variant.
  std::vector<int64_t> vision_layers = {-1};
  double alpha_init = 1.0;
  FusionInit init = FusionInit::kPublicCode;               // public_code | llm_std
  FusionVisionNorm vision_norm = FusionVisionNorm::kAuto;  // auto | rms | none
};

// How VoRA's vision embedding starts (YAML: vision_embedding.init).
enum class VisionEmbeddingInit {
  kRandom,  // random: drawn from the seed
  // teacher: the patch conv, its norm and the positions copied from the AIMv2 teacher's
  // preprocessor (the public code's reuse_aux_vision_embedding_layers; d_e must be the teacher's
  // width), the final linear drawn as with random.
  kTeacher,
};

// VoRA (architecture vora): the layer that turns pixels into LLM tokens, in place of a vision
// encoder. Patch and image size are the teacher's (model.vision), so tokens pair one to one with
// the teacher's patch features.
struct VisionEmbeddingConfig {
  int64_t hidden_size = 1024;  // d_e: Conv2d(3 -> d_e) + RMSNorm + positions, then Linear -> d_h
  VisionEmbeddingInit init = VisionEmbeddingInit::kRandom;  // random | teacher
};

// How an image's tokens attend to each other.
enum class VisionMask {
  kCausal,         // "causal": the plain causal mask (LLaVA, and VoRA's ablation)
  kBidirectional,  // "bidirectional": both ways within each image (VoRA)
};

// How vision reaches the LLM.
enum class Architecture {
  kLlava,         // "llava": ViT -> projector -> LLM input
  kInverseLlava,  // "inverse_llava": ViT features fused inside the LLM's attention (fusion)
  kVora,          // "vora": vision embedding layer -> LLM; vision is the distillation teacher
};
const std::string& name_of(Architecture architecture);  // its YAML word

struct ModelSection {
  std::string preset = "tiny";  // tiny | vicuna-7b+clip-vit-l-336 | qwen2.5-7b+aimv2-huge-448
  Architecture architecture = Architecture::kLlava;  // llava | inverse_llava | vora
  LlmConfig llm;
  VisionConfig vision;
  ProjectorConfig projector;
  FusionConfig fusion;
  VisionEmbeddingConfig vision_embedding;
  VisionMask vision_mask = VisionMask::kCausal;  // causal | bidirectional
};

struct LoraConfig {
  int64_t rank = 0;  // 0: no LoRA
  double alpha = 16.0;
  double dropout = 0.0;
  // Module-name suffixes that get LoRA: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj
  // lm_head.
  std::vector<std::string> targets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                      "gate_proj", "up_proj", "down_proj"};
  // LLM blocks that get adapters (VoRA: the first N_vit); empty: every block (inverse_llava
  // leaves out its fusion blocks).
  std::vector<int64_t> layers;
};

// LLaVA's image_aspect_ratio. Both end in the vision model's image processor (HF
// CLIPImageProcessor: shortest edge resized bicubic, centre crop, normalised; data/image.h).
enum class ImageAspect {
  kSquare,  // "square": the processor alone (LLaVA's default; its stage-1 script): sides cropped
  kPad,     // "pad": expand2square first (LLaVA-1.5's fine-tuning, VoRA): nothing cropped
};
// What "pad" fills the square with.
enum class PadColour {
  kImageMean,  // "image_mean": int(255 * mean) per channel of the processor's mean (LLaVA's
               // expand2square call: (122, 116, 104) for CLIP's)
  kBlack,      // "black": (0, 0, 0), VoRA's PILExpand2Square default
};

// The order an epoch visits the samples in (data/sampler.h).
enum class SamplerKind {
  kRandom,          // "random": a fresh permutation each epoch
  kModalityLength,  // "modality_length": LLaVA's group_by_modality_length
};
const std::string& name_of(SamplerKind sampler);  // its YAML word

// How a conversation becomes text (data/templates.cc follows the public code of each).
enum class Template {
  kPlain,     // "plain": LLaVA's pre-training captions, image then answer
  kVicunaV1,  // "vicuna_v1": LLaVA-1.5's conversations
  kQwen2,     // "qwen2": VoRA's chat template
};
const std::string& name_of(Template chat_template);  // its YAML word
// The template a YAML word (or a command-line value) names; nullopt for another word.
std::optional<Template> template_named(const std::string& word);

struct DataSection {
  std::string corpus_dir;  // root of a vlm-synth corpus; relative paths below resolve against it
  // The sample source, exactly one of the two (the innermost level that names one wins: a stage
  // naming shards drops an inherited json, and --set of one drops the other at its level).
  std::string json;        // LLaVA-format JSON array (or JSON Lines), relative to corpus_dir
  std::string shards;      // a vlm-shard output folder (index.json), relative to corpus_dir
  std::string image_root;  // json's image paths are relative to it; empty: corpus_dir (shards
                           // hold their images, so it does not apply to them)
  std::string tokenizer;   // tokenizer.json, tokenizer.model or a model folder, relative to
                           // corpus_dir; empty: model.llm.hf_path's (data/run_tokenizer.h)
  Template chat_template = Template::kPlain;  // YAML key: template. plain | vicuna_v1 | qwen2
  int64_t max_seq_len = 2048;
  ImageAspect image_aspect = ImageAspect::kSquare;  // square | pad
  PadColour pad_colour = PadColour::kImageMean;     // image_mean | black (used by pad)
  SamplerKind sampler = SamplerKind::kRandom;       // random | modality_length
  // Fraction of each batch drawn from the corpus's text-only samples (VoRA mixes instruction text
  // into caption pre-training); 0: samples come as the corpus has them.
  double text_only_fraction = 0.0;
  int64_t loader_threads = 1;
  int64_t prefetch_batches = 4;
  // Caps on one image (data::ImageLimits): its file's bytes, checked before it is read, and its
  // pixels by the header, checked before it is decoded. A sample over a cap is left out of the
  // loss and counted, never fatal. The pixel default is Pillow's decompression-bomb bound.
  int64_t max_image_bytes = int64_t{64} << 20;
  int64_t max_image_pixels = 89'478'485;
  // Whether symbolic links inside the image root may lead out of it. Off: a hostile tree cannot
  // reach a file outside the root. On: LLaVA's layout with linked datasets (playground/data/coco
  // -> /datasets/coco) reads; a record's own path is confined either way.
  bool follow_symlinks = false;
  // Training from data.json: a record longer than this is not parsed; like a record that does not
  // parse, it keeps its slot, is left out of the loss and is counted (vlm-shard skips such records
  // by --max-record-bytes, the same default).
  int64_t max_record_bytes = int64_t{4} << 20;
  // Each shard's checksum is compared with index.json's before its first sample is read (once
  // per process: one read of the file). false: trust the files (say, on a read-only store
  // verified once with vlm-shard --verify).
  bool verify_shards = true;
};

struct OptimizerSection {
  std::string name = "adamw";
  double lr = 1e-3;
  double projector_lr = 0.0;  // 0: same as lr
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double grad_clip = 1.0;  // global-norm clip; 0: off
};

// The learning rate after warm-up.
enum class ScheduleKind {
  kCosine,    // "cosine": down to min_lr_ratio along half a cosine
  kConstant,  // "constant"
  kLinear,    // "linear": down to min_lr_ratio in a straight line
};
const std::string& name_of(ScheduleKind kind);  // its YAML word

struct ScheduleSection {
  ScheduleKind type = ScheduleKind::kCosine;  // cosine | constant | linear
  double warmup_ratio = 0.03;                 // used when warmup_steps is 0
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;
};

// The dtype of the gathered compute copies of the weights (the masters stay fp32).
enum class ComputeDtype {
  kFp32,  // "fp32"
  kBf16,  // "bf16"
};
const std::string& name_of(ComputeDtype dtype);  // its YAML word

struct TrainingSection {
  uint64_t seed = 42;
  double epochs = 1.0;
  int64_t max_steps = 0;  // 0: run the epochs
  int64_t global_batch_size = 64;
  int64_t micro_batch_size = 0;  // per rank; 0: global_batch_size / world size (no accumulation)
  ComputeDtype dtype = ComputeDtype::kFp32;  // fp32 | bf16
  int64_t log_every = 10;
  int64_t num_threads = 0;  // torch intra-op threads; 0: chosen from the cores and ranks
  // A step whose loss or gradient norm is not finite is skipped (not applied); this many in a
  // row stop the run, before a diverged state reaches a checkpoint.
  int64_t max_nonfinite_steps = 5;
  // Peak TFLOP/s of one rank's device, for MFU; 0: measured once at start (a matmul per rank).
  double peak_tflops_per_rank = 0.0;
  // Where the model and every tensor of a step live: auto (a GPU per local rank when LibTorch
  // has CUDA and sees one, else cpu) | cpu | cuda (cuda:<local rank>) | cuda:<index>. One for the
  // whole run: every stage must say the same (set it at the top level).
  std::string device = "auto";
};

struct ShardingSection {
  int64_t stage = 0;                      // 0: replicated; 1, 2, 3: ZeRO stages
  bool prefetch = true;                   // stage 3: gather the next unit while one computes
  bool activation_checkpointing = false;  // recompute each block's activations in backward
  // Stages 1-3: gradient reductions left running while backward goes on. Each holds a unit's
  // full gradient; 0 waits for each (on CPU a reduction takes milliseconds).
  int64_t reductions_in_flight = 1;
  // CPU tensors: idle memory the allocator keeps resident for reuse (sharding/caching_allocator.h).
  // Less means a lower peak and more page faults.
  double host_cache_mib = 256;
  double max_memory_per_rank_mib = 0;  // refuse to start above this plan; 0: no budget
};

struct CheckpointSection {
  std::string dir;          // empty: <run_dir>/checkpoints
  int64_t every_steps = 0;  // 0: only at stage ends
  int64_t keep_last = 2;
  // Write on a thread while training goes on (the step waits only for a copy of the state).
  bool async = true;
};

struct ClusterSection {
  cluster::Backend backend = cluster::Backend::kAuto;  // cluster/backend.h: auto | mpi | nccl
  double timeout_s = 300.0;
  int64_t status_port = 0;  // 0: no status endpoint
  // Loopback by default: the endpoint has no authentication. 0.0.0.0 serves every interface.
  std::string status_address = "127.0.0.1";
  // Every rank tells rank 0 it is alive this often (0: no heartbeats); a rank silent past the
  // timeout ends the job (apps/main_support.h's kExitRankSilent). The heartbeat comes from a
  // thread of its own, so a long step or checkpoint does not delay it; only a hung or stopped
  // process, or a lost network, does.
  double heartbeat_interval_s = 5.0;
  double heartbeat_timeout_s = 60.0;
};

struct EvalSection {
  std::string questions;  // held-out questions JSON, relative to data.corpus_dir
  int64_t max_new_tokens = 8;
  int64_t limit = 0;  // 0: every question
};

// How a VDEP stage divides the global batches between its two modes (YAML: vdep.split).
enum class VdepSplit {
  // exact (vdep.txt 3.3, "within each batch, the data is evenly divided"): every global batch of
  // B holds exactly round(B r / (1 + r)) VDEP-mode rows at seeded positions, each mode drawing
  // from its own seeded pass over the corpus (data/vdep_mix.h).
  kExact,
  // shuffled (before issue 19): round(r N) VDEP entries appended to the N corpus entries and
  // shuffled with them, so a batch holds that share only on average.
  kShuffled,
};

// VDEP's image term per token pair, d = ||target - hidden||^2, summed as d, 1 / d or sigmoid(d).
enum class VdepLoss {
  kL2,         // "l2"
  kInvL2,      // "inv_l2"
  kSigmoidL2,  // "sigmoid_l2"
};
const std::string& name_of(VdepLoss loss);  // its YAML word (and the term's name: image_<word>)

// VDEP hybrid batches (objective vdep): part of each batch in VDEP mode (<auto_image> before the
// image, the image term alpha * L_image), the rest in plain LLaVA mode (the text term).
struct VdepConfig {
  double ratio = 1.0;         // VDEP-mode samples per LLaVA-mode sample (1.0: half of every batch)
  double alpha = 0.001;       // weight of L_image
  int64_t shift = 1;          // hidden state at image position j regressed onto embedding j + shift
  bool detach_target = true;  // no gradient through the projector embeddings being regressed to
  VdepLoss loss = VdepLoss::kL2;  // l2 | inv_l2 | sigmoid_l2
  VdepSplit split = VdepSplit::kExact;
  // false (vdep.txt 3.3): a VDEP-mode row gives only the image term, its caption unlabelled;
  // true: its caption's text loss as well (the form before issue 19).
  bool text_loss_on_vdep_rows = false;
};

// Which LLM hidden state learns teacher block i (1..N_vit) (YAML: distill.pairing).
enum class DistillPairing {
  // paper: LLM block i's output (vora.txt: "block i in the first N_vit layers of the LLM ...
  // block i in the ViT").
  kPaper,
  // public_code: the state entering LLM block i (for i = 1 the input embeddings), as the public
  // code's indexing of the two hidden-state tuples pairs them, one block behind.
  kPublicCode,
};

// Which teacher blocks VoRA distils (YAML: distill.mode).
enum class DistillMode {
  kAllBlocks,  // "all_blocks": one AuxHead per LLM block 1..N_vit
  kLastBlock,  // "last_block": block N_vit alone
};
const std::string& name_of(DistillMode mode);  // its YAML word

// VoRA block-wise distillation (objective vora).
struct DistillConfig {
  DistillMode mode = DistillMode::kAllBlocks;       // all_blocks | last_block
  double weight = 1.0;                              // L_total = weight * L_distill + L_LM
  DistillPairing pairing = DistillPairing::kPaper;  // paper | public_code
};

// What the recipe layer knows of a stage's objective (stages[].objective): its YAML word and the
// checks a recipe must pass. The loss itself, and the kinds that exist, are worker/'s
// (worker/objective_kinds.h): a new recipe kind is added there alone, and handed to load().
struct ObjectiveKind {
  std::string word;                          // its YAML word
  std::optional<Architecture> architecture;  // the model.architecture it needs; nullopt: any
  std::string own_part;  // a stages[].trainable part only this objective has; empty: none
  std::vector<std::string> added_tokens;  // tokens the run's tokenizer gains for it
};
// The objectives a recipe may name; the first is a stage's objective when it names none.
using ObjectiveCatalogue = std::vector<const ObjectiveKind*>;

// One phase of a recipe (LLaVA stage 1, stage 2, ...). A stage's YAML may override any of the
// sections below; what it does not set it inherits from the top level.
struct Stage {
  std::string name;
  const ObjectiveKind* objective = nullptr;  // one of the catalogue load() was given
  // What trains: any of vision, projector, llm, lora, embed_tokens, lm_head, fusion,
  // vision_embedding, aux_heads, added_tokens.
  std::vector<std::string> trainable = {"projector"};
  DataSection data;
  OptimizerSection optimizer;
  ScheduleSection schedule;
  TrainingSection training;
  LoraConfig lora;
  VdepConfig vdep;
  DistillConfig distill;
  // After the stage: merge LoRA into the LLM (architecture vora: and drop the teacher, so the
  // model is encoder-free from then on: VoRA's end).
  bool merge_lora_at_end = false;
};

struct Recipe {
  std::string source_path;  // the YAML file it came from (for messages)
  std::string run_dir = "runs/default";
  ModelSection model;
  ShardingSection sharding;
  CheckpointSection checkpoint;
  ClusterSection cluster;
  EvalSection eval;
  std::vector<Stage> stages;  // at least one
  std::string resolved_yaml;  // the resolved recipe, every key, as YAML
};

}  // namespace vlm::recipes
