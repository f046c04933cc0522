// The one description of every recipe section: for each field its YAML key, its member and the
// rule its value must satisfy. The parser, the unknown-key check, validation, dump() and
// equivalent() all walk these lists, so adding a field is one line here and those five cannot
// disagree. Internal to recipes/ (and its tests); other libraries use recipe.h and load.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::recipes::schema {

// Rules. Each knows the words that complete "<key> ...", e.g. "must be > 0".

// A numeric interval; the default accepts every number.
struct Range {
  double low = -std::numeric_limits<double>::infinity();
  bool low_open = false;
  double high = std::numeric_limits<double>::infinity();
  bool high_open = false;

  bool accepts(double value) const;
  std::string requirement() const;
};
Range any_number();
Range greater_than(double bound);          // (bound, inf)
Range at_least(double bound);              // [bound, inf)
Range half_open(double low, double high);  // [low, high)
Range between(double low, double high);    // [low, high]

// A string: any text, any non-empty text, or one of a fixed set of words.
struct Text {
  std::vector<std::string> allowed;  // empty: any text
  bool required = false;
};
Text any_text();
Text non_empty();
Text one_of(std::vector<std::string> allowed);

// A list of names: not empty, each one of `allowed`, none twice.
struct NameList {
  std::vector<std::string> allowed;
};

// A list of integers, each in `range`, none twice; empty allowed only when `may_be_empty`.
struct IntList {
  Range range;
  bool may_be_empty = false;
};

// An enumeration: the YAML word is one of `names`, the member holds its enumerator.
template <typename Enum>
struct Choice {
  std::vector<std::pair<std::string, Enum>> names;

  const std::string& name_of(Enum value) const {
    for (const auto& [name, enumerator] : names) {
      if (enumerator == value) return name;
    }
    static const std::string unnamed = "?";  // every enumerator is listed: see kVdepSplits
    return unnamed;
  }
  const Enum* find(const std::string& word) const {
    for (const auto& [name, enumerator] : names) {
      if (name == word) return &enumerator;
    }
    return nullptr;
  }
  std::vector<std::string> words() const {
    std::vector<std::string> out;
    for (const auto& entry : names) out.push_back(entry.first);
    return out;
  }
};
template <typename Rule>
struct is_choice : std::false_type {};
template <typename Enum>
struct is_choice<Choice<Enum>> : std::true_type {};

struct AnyBool {};
// stages[].objective: one of the words of the ObjectiveCatalogue given to load().
struct ObjectiveWord {};
// The member is a section of its own, described by its own Fields<>.
struct Nested {};
// Recipe::stages: each entry a Stage, inheriting the top-level sections.
struct StageList {};

// The enumerations, shared with the messages that list them.
inline const std::vector<std::string> kTrainableParts = {
    "vision", "projector",        "llm",       "lora",        "embed_tokens", "lm_head",
    "fusion", "vision_embedding", "aux_heads", "added_tokens"};
// The data section's sample sources (json: a corpus file, shards: a vlm-shard folder): exactly
// one must be set, and naming one at a level (a stage, or --set) drops the other given above or
// beside it, so switching a stage to shards takes one key.
inline const std::vector<std::string> kDataSourceKeys = {"json", "shards"};
// lm_head is allowed (not tied): "all linear layers" of a small random base LLM, whose frozen head
// cannot reach confident logits otherwise.
inline const std::vector<std::string> kLoraTargets = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"};
std::vector<std::string> preset_names();
inline const Choice<LlmFamily> kLlmFamilies{
    {{"llama", LlmFamily::kLlama}, {"qwen2", LlmFamily::kQwen2}}};
inline const Choice<VisionType> kVisionTypes{
    {{"clip", VisionType::kClip}, {"aimv2", VisionType::kAimv2}, {"none", VisionType::kNone}}};
inline const Choice<PositionInit> kPositionInits{
    {{"learned", PositionInit::kLearned}, {"sincos", PositionInit::kSincos}}};
inline const Choice<ProjectorType> kProjectorTypes{{{"mlp2x_gelu", ProjectorType::kMlp2xGelu},
                                                    {"linear", ProjectorType::kLinear},
                                                    {"none", ProjectorType::kNone}}};
inline const Choice<FusionMode> kFusionModes{
    {{"concat", FusionMode::kConcat}, {"additive", FusionMode::kAdditive}}};
inline const Choice<ScheduleKind> kScheduleKinds{{{"cosine", ScheduleKind::kCosine},
                                                  {"constant", ScheduleKind::kConstant},
                                                  {"linear", ScheduleKind::kLinear}}};
inline const Choice<ComputeDtype> kComputeDtypes{
    {{"fp32", ComputeDtype::kFp32}, {"bf16", ComputeDtype::kBf16}}};
inline const Choice<DistillMode> kDistillModes{
    {{"all_blocks", DistillMode::kAllBlocks}, {"last_block", DistillMode::kLastBlock}}};
inline const Choice<Architecture> kArchitectures{{{"llava", Architecture::kLlava},
                                                  {"inverse_llava", Architecture::kInverseLlava},
                                                  {"vora", Architecture::kVora}}};
inline const Choice<VisionMask> kVisionMasks{
    {{"causal", VisionMask::kCausal}, {"bidirectional", VisionMask::kBidirectional}}};
inline const Choice<SamplerKind> kSamplers{
    {{"random", SamplerKind::kRandom}, {"modality_length", SamplerKind::kModalityLength}}};
inline const Choice<VdepLoss> kVdepLosses{
    {{"l2", VdepLoss::kL2}, {"inv_l2", VdepLoss::kInvL2}, {"sigmoid_l2", VdepLoss::kSigmoidL2}}};
// cluster/ owns its backends' words: a new backend is added there alone.
inline const Choice<cluster::Backend> kBackends{cluster::backend_words()};
inline const Choice<Template> kTemplates{
    {{"plain", Template::kPlain}, {"vicuna_v1", Template::kVicunaV1}, {"qwen2", Template::kQwen2}}};
inline const Choice<ImageAspect> kImageAspects{
    {{"square", ImageAspect::kSquare}, {"pad", ImageAspect::kPad}}};
inline const Choice<PadColour> kPadColours{
    {{"image_mean", PadColour::kImageMean}, {"black", PadColour::kBlack}}};
inline const Choice<VdepSplit> kVdepSplits = {
    {{"exact", VdepSplit::kExact}, {"shuffled", VdepSplit::kShuffled}}};
inline const Choice<FusionInit> kFusionInits{
    {{"public_code", FusionInit::kPublicCode}, {"llm_std", FusionInit::kLlmStd}}};
inline const Choice<FusionVisionNorm> kFusionVisionNorms{{{"auto", FusionVisionNorm::kAuto},
                                                          {"rms", FusionVisionNorm::kRms},
                                                          {"none", FusionVisionNorm::kNone}}};
inline const Choice<VisionEmbeddingInit> kVisionEmbeddingInits{
    {{"random", VisionEmbeddingInit::kRandom}, {"teacher", VisionEmbeddingInit::kTeacher}}};
inline const Choice<DistillPairing> kDistillPairings{
    {{"paper", DistillPairing::kPaper}, {"public_code", DistillPairing::kPublicCode}}};

// Fields<S>::visit(f) calls f(key, &S::member, rule) once per field, in dump order.
template <typename Section>
struct Fields;

template <>
struct Fields<LlmConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("family", &LlmConfig::family, kLlmFamilies);
    f("vocab_size", &LlmConfig::vocab_size, at_least(0));
    f("hidden_size", &LlmConfig::hidden_size, greater_than(0));
    f("intermediate_size", &LlmConfig::intermediate_size, greater_than(0));
    f("num_layers", &LlmConfig::num_layers, greater_than(0));
    f("num_heads", &LlmConfig::num_heads, greater_than(0));
    f("num_kv_heads", &LlmConfig::num_kv_heads, at_least(0));
    f("rope_theta", &LlmConfig::rope_theta, greater_than(0));
    f("rms_norm_eps", &LlmConfig::rms_norm_eps, greater_than(0));
    f("qkv_bias", &LlmConfig::qkv_bias, AnyBool{});
    f("max_position", &LlmConfig::max_position, greater_than(0));
    f("tie_word_embeddings", &LlmConfig::tie_word_embeddings, AnyBool{});
    f("init_std", &LlmConfig::init_std, greater_than(0));
    f("hf_path", &LlmConfig::hf_path, any_text());
  }
};

template <>
struct Fields<VisionConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("type", &VisionConfig::type, kVisionTypes);
    f("image_size", &VisionConfig::image_size, greater_than(0));
    f("patch_size", &VisionConfig::patch_size, greater_than(0));
    f("hidden_size", &VisionConfig::hidden_size, greater_than(0));
    f("intermediate_size", &VisionConfig::intermediate_size, greater_than(0));
    f("num_layers", &VisionConfig::num_layers, greater_than(0));
    f("num_heads", &VisionConfig::num_heads, greater_than(0));
    f("feature_layer", &VisionConfig::feature_layer, any_number());  // range checked in validate
    f("drop_cls", &VisionConfig::drop_cls, AnyBool{});
    f("position_init", &VisionConfig::position_init, kPositionInits);
    f("layer_norm_eps", &VisionConfig::layer_norm_eps, greater_than(0));
    f("rms_norm_eps", &VisionConfig::rms_norm_eps, greater_than(0));
    f("qkv_bias", &VisionConfig::qkv_bias, AnyBool{});
    f("use_bias", &VisionConfig::use_bias, AnyBool{});
    f("init_std", &VisionConfig::init_std, greater_than(0));
    f("hf_path", &VisionConfig::hf_path, any_text());
  }
};

template <>
struct Fields<ProjectorConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("type", &ProjectorConfig::type, kProjectorTypes);
  }
};

template <>
struct Fields<FusionConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("layers", &FusionConfig::layers, IntList{at_least(0)});  // < num_layers: validate.cc
    f("mode", &FusionConfig::mode, kFusionModes);
    f("vision_layers", &FusionConfig::vision_layers, IntList{any_number()});
    f("alpha_init", &FusionConfig::alpha_init, any_number());
    f("init", &FusionConfig::init, kFusionInits);
    f("vision_norm", &FusionConfig::vision_norm, kFusionVisionNorms);
  }
};

template <>
struct Fields<VisionEmbeddingConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("hidden_size", &VisionEmbeddingConfig::hidden_size, greater_than(0));
    f("init", &VisionEmbeddingConfig::init, kVisionEmbeddingInits);
  }
};

template <>
struct Fields<ModelSection> {
  template <typename F>
  static void visit(F&& f) {
    f("preset", &ModelSection::preset, one_of(preset_names()));
    f("architecture", &ModelSection::architecture, kArchitectures);
    f("llm", &ModelSection::llm, Nested{});
    f("vision", &ModelSection::vision, Nested{});
    f("projector", &ModelSection::projector, Nested{});
    f("fusion", &ModelSection::fusion, Nested{});
    f("vision_embedding", &ModelSection::vision_embedding, Nested{});
    f("vision_mask", &ModelSection::vision_mask, kVisionMasks);
  }
};

template <>
struct Fields<LoraConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("rank", &LoraConfig::rank, at_least(0));
    f("alpha", &LoraConfig::alpha, greater_than(0));
    f("dropout", &LoraConfig::dropout, half_open(0, 1));
    f("targets", &LoraConfig::targets, NameList{kLoraTargets});
    f("layers", &LoraConfig::layers, IntList{at_least(0), /*may_be_empty=*/true});
  }
};

template <>
struct Fields<DataSection> {
  template <typename F>
  static void visit(F&& f) {
    f("corpus_dir", &DataSection::corpus_dir, any_text());
    f("json", &DataSection::json, any_text());  // exactly one of json, shards: validate.cc
    f("shards", &DataSection::shards, any_text());
    f("image_root", &DataSection::image_root, any_text());
    f("tokenizer", &DataSection::tokenizer, any_text());
    f("template", &DataSection::chat_template, kTemplates);
    f("max_seq_len", &DataSection::max_seq_len, greater_than(0));
    f("image_aspect", &DataSection::image_aspect, kImageAspects);
    f("pad_colour", &DataSection::pad_colour, kPadColours);
    f("sampler", &DataSection::sampler, kSamplers);
    f("text_only_fraction", &DataSection::text_only_fraction, half_open(0, 1));
    // Bounded: each thread and prefetched batch holds memory; more than the cores gains nothing.
    f("loader_threads", &DataSection::loader_threads, between(0, 256));
    f("prefetch_batches", &DataSection::prefetch_batches, between(0, 1024));
    f("max_image_bytes", &DataSection::max_image_bytes, between(1, 4.0 * (1 << 30)));
    f("max_image_pixels", &DataSection::max_image_pixels, between(1, 2.0 * (1 << 30)));
    f("follow_symlinks", &DataSection::follow_symlinks, AnyBool{});
    f("max_record_bytes", &DataSection::max_record_bytes, between(1, 1.0 * (1 << 30)));
    f("verify_shards", &DataSection::verify_shards, AnyBool{});
  }
};

template <>
struct Fields<OptimizerSection> {
  template <typename F>
  static void visit(F&& f) {
    f("name", &OptimizerSection::name, one_of({"adamw"}));
    f("lr", &OptimizerSection::lr, greater_than(0));
    f("projector_lr", &OptimizerSection::projector_lr, at_least(0));
    f("beta1", &OptimizerSection::beta1, half_open(0, 1));
    f("beta2", &OptimizerSection::beta2, half_open(0, 1));
    f("eps", &OptimizerSection::eps, greater_than(0));
    f("weight_decay", &OptimizerSection::weight_decay, at_least(0));
    f("grad_clip", &OptimizerSection::grad_clip, at_least(0));
  }
};

template <>
struct Fields<ScheduleSection> {
  template <typename F>
  static void visit(F&& f) {
    f("type", &ScheduleSection::type, kScheduleKinds);
    f("warmup_ratio", &ScheduleSection::warmup_ratio, half_open(0, 1));
    f("warmup_steps", &ScheduleSection::warmup_steps, at_least(0));
    f("min_lr_ratio", &ScheduleSection::min_lr_ratio, between(0, 1));
  }
};

template <>
struct Fields<TrainingSection> {
  template <typename F>
  static void visit(F&& f) {
    f("seed", &TrainingSection::seed, any_number());
    f("epochs", &TrainingSection::epochs, greater_than(0));
    f("max_steps", &TrainingSection::max_steps, at_least(0));
    f("global_batch_size", &TrainingSection::global_batch_size, greater_than(0));
    f("micro_batch_size", &TrainingSection::micro_batch_size, at_least(0));
    f("dtype", &TrainingSection::dtype, kComputeDtypes);
    f("log_every", &TrainingSection::log_every, greater_than(0));
    f("num_threads", &TrainingSection::num_threads, at_least(0));
    f("max_nonfinite_steps", &TrainingSection::max_nonfinite_steps, at_least(1));
    f("peak_tflops_per_rank", &TrainingSection::peak_tflops_per_rank, at_least(0));
    f("device", &TrainingSection::device, non_empty());
  }
};

template <>
struct Fields<ShardingSection> {
  template <typename F>
  static void visit(F&& f) {
    f("stage", &ShardingSection::stage, between(0, 3));
    f("prefetch", &ShardingSection::prefetch, AnyBool{});
    f("activation_checkpointing", &ShardingSection::activation_checkpointing, AnyBool{});
    f("reductions_in_flight", &ShardingSection::reductions_in_flight, between(0, 8));
    f("host_cache_mib", &ShardingSection::host_cache_mib, at_least(0));
    f("max_memory_per_rank_mib", &ShardingSection::max_memory_per_rank_mib, at_least(0));
  }
};

template <>
struct Fields<CheckpointSection> {
  template <typename F>
  static void visit(F&& f) {
    f("dir", &CheckpointSection::dir, any_text());
    f("every_steps", &CheckpointSection::every_steps, at_least(0));
    f("keep_last", &CheckpointSection::keep_last, at_least(2));
    f("async", &CheckpointSection::async, AnyBool{});
  }
};

template <>
struct Fields<ClusterSection> {
  template <typename F>
  static void visit(F&& f) {
    f("backend", &ClusterSection::backend, kBackends);
    f("timeout_s", &ClusterSection::timeout_s, greater_than(0));
    f("status_port", &ClusterSection::status_port, between(0, 65535));
    f("status_address", &ClusterSection::status_address, non_empty());
    f("heartbeat_interval_s", &ClusterSection::heartbeat_interval_s, at_least(0));
    f("heartbeat_timeout_s", &ClusterSection::heartbeat_timeout_s, greater_than(0));
  }
};

template <>
struct Fields<EvalSection> {
  template <typename F>
  static void visit(F&& f) {
    f("questions", &EvalSection::questions, any_text());
    f("max_new_tokens", &EvalSection::max_new_tokens, greater_than(0));
    f("limit", &EvalSection::limit, at_least(0));
  }
};

template <>
struct Fields<VdepConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("ratio", &VdepConfig::ratio, greater_than(0));
    f("alpha", &VdepConfig::alpha, at_least(0));
    f("shift", &VdepConfig::shift, between(0, 1));
    f("detach_target", &VdepConfig::detach_target, AnyBool{});
    f("loss", &VdepConfig::loss, kVdepLosses);
    f("split", &VdepConfig::split, kVdepSplits);
    f("text_loss_on_vdep_rows", &VdepConfig::text_loss_on_vdep_rows, AnyBool{});
  }
};

template <>
struct Fields<DistillConfig> {
  template <typename F>
  static void visit(F&& f) {
    f("mode", &DistillConfig::mode, kDistillModes);
    f("weight", &DistillConfig::weight, at_least(0));
    f("pairing", &DistillConfig::pairing, kDistillPairings);
  }
};

// Every key of a stage except `name` may also stand at the top level, as the default its stages
// inherit key by key.
template <>
struct Fields<Stage> {
  template <typename F>
  static void visit(F&& f) {
    f("name", &Stage::name, non_empty());
    f("objective", &Stage::objective, ObjectiveWord{});
    f("trainable", &Stage::trainable, NameList{kTrainableParts});
    f("data", &Stage::data, Nested{});
    f("optimizer", &Stage::optimizer, Nested{});
    f("schedule", &Stage::schedule, Nested{});
    f("training", &Stage::training, Nested{});
    f("lora", &Stage::lora, Nested{});
    f("vdep", &Stage::vdep, Nested{});
    f("distill", &Stage::distill, Nested{});
    f("merge_lora_at_end", &Stage::merge_lora_at_end, AnyBool{});
  }
};

template <>
struct Fields<Recipe> {
  template <typename F>
  static void visit(F&& f) {
    f("run_dir", &Recipe::run_dir, non_empty());
    f("model", &Recipe::model, Nested{});
    f("sharding", &Recipe::sharding, Nested{});
    f("checkpoint", &Recipe::checkpoint, Nested{});
    f("cluster", &Recipe::cluster, Nested{});
    f("eval", &Recipe::eval, Nested{});
    f("stages", &Recipe::stages, StageList{});
  }
};

// The YAML keys of a section, in schema order.
template <typename Section>
std::vector<std::string> keys_of() {
  std::vector<std::string> keys;
  Fields<Section>::visit([&](const char* key, auto, const auto&) { keys.emplace_back(key); });
  return keys;
}

// Text helpers shared by messages and dump().
std::string format_number(double value);  // shortest text that reads back as the same double
std::string format_number(int64_t value);
std::string format_number(uint64_t value);
std::string join(const std::vector<std::string>& words, const std::string& separator = ", ");
// "path.key", or "key" at the top.
std::string child_path(const std::string& path, const std::string& key);
// "path[index]".
std::string index_path(const std::string& path, size_t index);

}  // namespace vlm::recipes::schema
