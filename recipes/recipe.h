// The typed recipe: one struct per YAML section. recipes::load() fills and validates it; every
// component receives only its own section. Field names equal the YAML keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vlm::recipes {

// Decoder LLM (LLaMA/Vicuna and Qwen2 families), HF config.json field meanings.
struct LlmConfig {
  std::string family = "llama";  // llama | qwen2
  int64_t vocab_size = 0;        // 0: taken from the tokenizer (plus added tokens)
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

// CLIP-style vision tower. For VoRA it describes the teacher.
struct VisionConfig {
  std::string type = "clip";  // clip | aimv2 | none
  int64_t image_size = 32;
  int64_t patch_size = 8;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 256;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t feature_layer = -2;             // hidden state index LLaVA takes (-2: penultimate layer)
  bool drop_cls = true;                   // LLaVA's "patch" feature select
  std::string position_init = "learned";  // learned | sincos (fixed 2-D sin-cos values at init)
  double layer_norm_eps = 1e-5;
  double init_std = 0.02;
  std::string hf_path;
};

struct ProjectorConfig {
  std::string type = "mlp2x_gelu";  // mlp2x_gelu | linear | none
};

struct ModelSection {
  std::string preset = "tiny";  // tiny | vicuna-7b+clip-vit-l-336 | qwen2.5-7b+aimv2-huge-448
  LlmConfig llm;
  VisionConfig vision;
  ProjectorConfig projector;
};

struct LoraConfig {
  int64_t rank = 0;  // 0: no LoRA
  double alpha = 16.0;
  double dropout = 0.0;
  // Module-name suffixes that get LoRA: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj.
  std::vector<std::string> targets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                      "gate_proj", "up_proj", "down_proj"};
};

struct DataSection {
  std::string corpus_dir;  // root of a vlm-synth corpus; relative paths below resolve against it
  // The sample source, exactly one of the two (the innermost level that names one wins: a stage
  // naming shards drops an inherited json, and --set of one drops the other at its level).
  std::string json;        // LLaVA-format JSON array (or JSON Lines), relative to corpus_dir
  std::string shards;      // a vlm-shard output folder (index.json), relative to corpus_dir
  std::string image_root;  // json's image paths are relative to it; empty: corpus_dir (shards
                           // hold their images, so it does not apply to them)
  std::string tokenizer;   // tokenizer.model (SentencePiece); relative to corpus_dir
  std::string template_name = "plain";  // YAML key: template. plain | vicuna_v1 | qwen2
  int64_t max_seq_len = 2048;
  std::string image_aspect = "square";  // square (resize) | pad (pad to square with CLIP mean)
  std::string sampler = "random";       // random | modality_length
  int64_t loader_threads = 1;
  int64_t prefetch_batches = 4;
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

struct ScheduleSection {
  std::string type = "cosine";  // cosine | constant | linear
  double warmup_ratio = 0.03;   // used when warmup_steps is 0
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;
};

struct TrainingSection {
  uint64_t seed = 42;
  double epochs = 1.0;
  int64_t max_steps = 0;  // 0: run the epochs
  int64_t global_batch_size = 64;
  int64_t micro_batch_size = 0;  // per rank; 0: global_batch_size / world size (no accumulation)
  std::string dtype = "fp32";    // fp32 | bf16 (compute copies; masters stay fp32)
  int64_t log_every = 10;
  int64_t num_threads = 0;  // torch intra-op threads; 0: chosen from the cores and ranks
  // A step whose loss or gradient norm is not finite is skipped (not applied); this many in a
  // row stop the run, before a diverged state reaches a checkpoint.
  int64_t max_nonfinite_steps = 5;
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
  std::string backend = "mpi";  // mpi | nccl
  double timeout_s = 300.0;
  int64_t status_port = 0;  // 0: no status endpoint
};

struct EvalSection {
  std::string questions;  // held-out questions JSON, relative to data.corpus_dir
  int64_t max_new_tokens = 8;
  int64_t limit = 0;  // 0: every question
};

// One phase of a recipe (LLaVA stage 1, stage 2, ...). A stage's YAML may override any of the
// sections below; what it does not set it inherits from the top level.
struct Stage {
  std::string name;
  std::string objective = "llava";  // llava (others arrive with their recipes)
  // What trains: any of vision, projector, llm, lora, embed_tokens, lm_head.
  std::vector<std::string> trainable = {"projector"};
  DataSection data;
  OptimizerSection optimizer;
  ScheduleSection schedule;
  TrainingSection training;
  LoraConfig lora;
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
