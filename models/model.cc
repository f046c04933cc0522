#include "models/model.h"

#include <c10/core/GradMode.h>

#include <map>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "models/attention_mask.h"
#include "models/fusion.h"
#include "models/hf_config.h"
#include "models/init.h"
#include "models/inverse_llava.h"
#include "models/lora.h"
#include "models/model_impl.h"

namespace vlm::models {
namespace {

recipes::LlmConfig effective_llm_config(const recipes::LlmConfig& config, int64_t vocab_size) {
  if (config.hf_path.empty()) {
    recipes::LlmConfig out = config;
    if (out.vocab_size <= 0) out.vocab_size = vocab_size;
    VLM_CHECK(vocab_size <= out.vocab_size, ConfigError, "model.llm.vocab_size ", out.vocab_size,
              " is smaller than the tokenizer's ", vocab_size, " tokens");
    return out;
  }
  // The checkpoint's own rows: a larger tokenizer grows the model after loading (grow_vocabulary).
  return llm_config_from_hf(files::join(config.hf_path, "config.json"), config);
}

recipes::VisionConfig effective_vision_config(const recipes::VisionConfig& config) {
  if (config.hf_path.empty()) return config;
  const std::string path = files::join(config.hf_path, "config.json");
  recipes::VisionConfig out = vision_config_from_hf(path, config);
  // The file decides the layout; a recipe that expects another is wrong about the folder.
  const std::string& expected = recipes::name_of(config.type);
  const std::string& found = recipes::name_of(out.type);
  VLM_CHECK(out.type == config.type, ConfigError, "model.vision.type is ", expected, " but ", path,
            " (model.vision.hf_path) describes a ", found, " tower: set model.vision.type to ",
            found, " or point hf_path at a ", expected, " folder");
  return out;
}

}  // namespace

VisionLanguageModelImpl::VisionLanguageModelImpl(const recipes::ModelSection& section,
                                                 int64_t vocab_size, uint64_t seed)
    : config(section), root(std::make_shared<torch::nn::Module>()) {
  const bool has_vision = section.vision.type != recipes::VisionType::kNone;
  const recipes::ProjectorType projector_type = section.projector.type;
  VLM_CHECK(has_vision || projector_type == recipes::ProjectorType::kNone, ConfigError,
            "model.projector.type is ", recipes::name_of(projector_type),
            " but model.vision.type is none: set model.projector.type to none");

  config.llm = effective_llm_config(section.llm, vocab_size);
  if (has_vision) {
    config.vision = effective_vision_config(section.vision);
    vision = root->register_module("vision", make_vision_tower(config.vision));
  }
  if (projector_type != recipes::ProjectorType::kNone) {
    projector = root->register_module(
        "projector", Projector(projector_type, config.vision.hidden_size, config.llm.hidden_size));
  }
  if (section.architecture == recipes::Architecture::kVora) {
    vision_embedding =
        root->register_module("vision_embedding", make_vision_embedding(config, seed));
  }
  llm = root->register_module("llm", CausalLm(config.llm, config.llm.vocab_size));

  if (vision) {
    if (config.vision.hf_path.empty()) {
      at::Generator gen = init::generator(seed, "vision");
      vision->initialize(gen);
    } else if (!shapes_only()) {
      load_hf_part(*this, "vision", config.vision.hf_path);
    }
  }
  if (vision_embedding && vision &&
      config.vision_embedding.init == recipes::VisionEmbeddingInit::kTeacher) {
    init_vision_embedding_from_teacher(*vision_embedding, *vision, config.vision.hf_path);
  }
  if (projector) {
    at::Generator gen = init::generator(seed, "projector");
    projector->initialize(gen);
  }
  if (config.llm.hf_path.empty()) {
    at::Generator gen = init::generator(seed, "llm");
    llm->initialize(gen);
  } else {
    if (!shapes_only()) load_hf_part(*this, "llm", config.llm.hf_path);
    if (vocab_size > config.llm.vocab_size) grow_vocabulary(vocab_size);
  }
  if (config.architecture == recipes::Architecture::kInverseLlava) {
    add_inverse_llava_fusion(*this, seed);
  }
}

bool VisionLanguageModelImpl::shapes_only() const {
  return ParameterPlacement::options().device().is_meta();
}

void VisionLanguageModelImpl::grow_vocabulary(int64_t rows) {
  const int64_t before = config.llm.vocab_size;
  llm->grow_vocabulary(rows);
  config.llm.vocab_size = rows;
  log::info(
      "model.llm.hf_path {} has {} embedding rows and the tokenizer {} tokens: {} row(s) added "
      "to the input embedding{}, each the mean of the existing rows",
      config.llm.hf_path, before, rows, rows - before, llm->lm_head ? " and the LM head" : "");
}

bool VisionLanguageModelImpl::vision_trains() const {
  for (const auto& param : vision->parameters()) {
    if (param.requires_grad()) return true;
  }
  return false;
}

at::Tensor VisionLanguageModelImpl::encode_images(const at::Tensor& images) {
  if (vision_embedding) {  // VoRA: no encoder, no projector
    const at::Tensor pixels = images.to(vision_embedding->position_embedding.options());
    return observed("vision_embedding", [&] { return vision_embedding(pixels); });
  }
  VLM_CHECK(vision, ShapeError, "images were given but model.vision.type is none");
  const at::Tensor pixels = images.to(vision->options());
  at::Tensor features;
  {
    // A frozen tower needs no graph: skipping it saves the activations and the bookkeeping.
    c10::AutoGradMode grad_mode(c10::GradMode::is_enabled() && vision_trains());
    features = observed("vision", [&] { return vision->features(pixels); });
  }
  if (projector) return observed("projector", [&] { return projector(features); });
  VLM_CHECK(features.size(-1) == config.llm.hidden_size, ShapeError,
            "model.projector.type is none but the vision features have width ", features.size(-1),
            " and the LLM ", config.llm.hidden_size);
  return features;
}

at::Tensor VisionLanguageModelImpl::splice(const at::Tensor& embeds, const at::Tensor& slots,
                                           const at::Tensor& image_embeds) const {
  const at::Tensor positions = slots.reshape({-1}).nonzero().reshape({-1});
  const int64_t provided = image_embeds.defined() ? image_embeds.size(0) * image_embeds.size(1) : 0;
  VLM_CHECK(positions.size(0) == provided, ShapeError, "input_ids hold ", positions.size(0),
            " image slots but the images give ", provided, " image tokens (",
            image_embeds.defined() ? image_embeds.size(0) : 0, " images x ",
            image_embeds.defined() ? image_embeds.size(1) : 0, ")");
  if (provided == 0) return embeds;
  const int64_t width = embeds.size(-1);
  return embeds.reshape({-1, width})
      .index_copy(0, positions, image_embeds.reshape({-1, width}).to(embeds.scalar_type()))
      .view(embeds.sizes());
}

// ---- VisionLanguageModel --------------------------------------------------------------------

namespace {

std::unique_ptr<VisionLanguageModelImpl> build(const recipes::ModelSection& config,
                                               int64_t vocab_size, uint64_t seed,
                                               at::Device device) {
  const ParameterPlacement placement(device);
  return std::make_unique<VisionLanguageModelImpl>(config, vocab_size, seed);
}

}  // namespace

VisionLanguageModel::VisionLanguageModel(const recipes::ModelSection& config, int64_t vocab_size,
                                         uint64_t seed, at::Device device)
    : impl_(build(config, vocab_size, seed, device)) {}

VisionLanguageModel::~VisionLanguageModel() = default;
VisionLanguageModel::VisionLanguageModel(VisionLanguageModel&&) noexcept = default;
VisionLanguageModel& VisionLanguageModel::operator=(VisionLanguageModel&&) noexcept = default;

namespace {

void check_inputs(const ModelInputs& inputs) {
  const at::Tensor& ids = inputs.input_ids;
  VLM_CHECK(ids.defined() && ids.dim() == 2 && ids.scalar_type() == at::kLong, ShapeError,
            "input_ids must be a [B, T] int64 tensor");
  if (inputs.position_ids.defined()) {
    VLM_CHECK(inputs.position_ids.sizes() == ids.sizes() &&
                  inputs.position_ids.scalar_type() == at::kLong,
              ShapeError, "position_ids must be int64 of input_ids' shape ", ids.sizes(), ", got ",
              inputs.position_ids.sizes());
  }
  if (inputs.attention_mask.defined()) {
    const at::Tensor& mask = inputs.attention_mask;
    VLM_CHECK(mask.dim() == 4 && (mask.size(0) == ids.size(0) || mask.size(0) == 1) &&
                  mask.size(1) == 1 && mask.size(2) == ids.size(1) && mask.size(3) == ids.size(1),
              ShapeError, "attention_mask must be [", ids.size(0), ", 1, ", ids.size(1), ", ",
              ids.size(1), "], got ", mask.sizes());
  }
}

}  // namespace

ModelOutputs VisionLanguageModel::forward(const ModelInputs& inputs, bool want_block_hiddens) {
  check_inputs(inputs);
  VisionLanguageModelImpl& m = *impl_;
  const at::Tensor& ids = inputs.input_ids;
  const int64_t batch = ids.size(0), seq = ids.size(1);

  const at::Tensor slots = ids == kImageSlot;
  const at::Tensor token_ids = ids.masked_fill(slots, 0);
  if (token_ids.numel() > 0) {
    const int64_t low = token_ids.min().item<int64_t>(), high = token_ids.max().item<int64_t>();
    VLM_CHECK(low >= 0 && high < m.llm->vocab_size(), ShapeError, "input_ids hold ",
              low < 0 ? low : high, ", outside the vocabulary [0, ", m.llm->vocab_size(),
              ") (image slots are ", kImageSlot, ")");
  }

  ModelOutputs out;
  at::Tensor vision_stream;  // Inverse-LLaVA's: the images travel beside the tokens
  if (m.config.architecture == recipes::Architecture::kInverseLlava) {
    InverseLlavaStreams streams = inverse_llava_streams(m, token_ids, slots, inputs.images);
    out.image_embeds = std::move(streams.image_features);
    out.input_embeds = std::move(streams.text);
    vision_stream = std::move(streams.vision);
  } else {
    if (inputs.images.defined() && inputs.images.size(0) > 0) {
      out.image_embeds = m.encode_images(inputs.images);
    }
    const at::Tensor token_embeds =
        m.observed("llm.embed_tokens", [&] { return m.llm->embed(token_ids); });
    out.input_embeds = m.splice(token_embeds, slots, out.image_embeds);
  }

  at::Tensor mask = inputs.attention_mask.defined()
                        ? inputs.attention_mask
                        : build_attention_mask(batch, seq, std::vector<int64_t>(batch, seq), {});
  mask = mask.to(out.input_embeds.options());  // no copy when dtype and device already agree
  LlmHiddens hiddens = m.llm->run(out.input_embeds, inputs.position_ids, mask, want_block_hiddens,
                                  m.observer, vision_stream);
  out.logits = m.llm->logits(hiddens.last_hidden);
  if (m.observer) out.logits = m.observer->after("llm.head", out.logits);
  out.last_hidden = std::move(hiddens.last_hidden);
  out.block_hiddens = std::move(hiddens.block_hiddens);
  return out;
}

std::vector<at::Tensor> VisionLanguageModel::vision_hidden_states(const at::Tensor& images) {
  VLM_CHECK(impl_->vision, ShapeError, "model.vision.type is none: there is no vision tower");
  return impl_->vision->hidden_states(images.to(impl_->vision->options()));
}

void VisionLanguageModel::add_lora(const recipes::LoraConfig& config, uint64_t seed) {
  if (config.rank == 0) return;
  VLM_CHECK(!has_lora(), ConfigError, "LoRA is already applied to this model");
  const bool fuses = impl_->config.architecture == recipes::Architecture::kInverseLlava;
  models::add_lora(*impl_->llm, config, seed,
                   fuses ? impl_->config.fusion.layers : std::vector<int64_t>{});
}

void VisionLanguageModel::merge_lora() { models::merge_lora(*impl_->llm); }

void VisionLanguageModel::separate_token_embeddings(const std::vector<int64_t>& ids) {
  impl_->llm->model->embed_tokens->separate_rows(ids);
}

void VisionLanguageModel::fold_token_embeddings() {
  impl_->llm->model->embed_tokens->fold_separate_rows();
}

bool VisionLanguageModel::has_lora() const {
  for (const auto& item : impl_->llm->named_parameters()) {
    if (is_lora_parameter(item.key())) return true;
  }
  return false;
}

namespace {

const std::set<std::string>& known_groups() {
  static const std::set<std::string> groups = {
      "vision",       "projector",        "llm",      "lora", "embed_tokens", "lm_head", "fusion",
      "added_tokens", "vision_embedding", "aux_heads"};
  return groups;
}

std::string join_words(const std::set<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
  return out;
}

bool in_group(const std::string& group, const std::string& name, bool tied) {
  const bool lora = is_lora_parameter(name);
  const auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (group == "vision") return starts("vision.");
  if (group == "projector") return starts("projector.");
  if (group == "vision_embedding") return starts("vision_embedding.");
  if (group == "aux_heads") return starts("aux_heads.");
  if (group == "llm") return starts("llm.") && !lora && !is_fusion_parameter(name);
  if (group == "lora") return lora;
  if (group == "fusion") return is_fusion_parameter(name);
  if (group == "embed_tokens") return name == "llm.model.embed_tokens.weight";
  if (group == "added_tokens") return starts("llm.model.embed_tokens.added.");
  if (group == "lm_head") {
    return name == (tied ? "llm.model.embed_tokens.weight" : "llm.lm_head.weight");
  }
  return false;
}

}  // namespace

void VisionLanguageModel::set_trainable(const std::vector<std::string>& groups) {
  for (const auto& group : groups) {
    VLM_CHECK(known_groups().count(group) > 0, ConfigError, "trainable: unknown group '", group,
              "' (", join_words(known_groups()), ")");
  }
  const bool tied = impl_->config.llm.tie_word_embeddings;
  std::map<std::string, int64_t> selected;
  for (auto& [name, param] : named_parameters()) {
    bool trains = false;
    for (const auto& group : groups) {
      if (in_group(group, name, tied)) {
        trains = true;
        ++selected[group];
      }
    }
    param.requires_grad_(trains);
  }
  for (const auto& group : groups) {
    VLM_CHECK(selected[group] > 0, ConfigError, "trainable: group '", group,
              "' has no parameters in this model",
              group == "lora" ? " (LoRA is added only when lora.rank > 0)" : "");
  }
}

std::vector<std::pair<std::string, at::Tensor>> VisionLanguageModel::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : impl_->root->named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

namespace {

// "llm.model.layers.12.mlp..." -> "llm.layers.12"; other names to their unit.
std::string unit_of(const std::string& name) {
  const auto starts = [&](const std::string& prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("vision.")) return "vision";
  if (starts("projector.")) return "projector";
  if (starts("vision_embedding.")) return "vision_embedding";
  if (starts("aux_heads.")) return "aux_heads";
  if (starts("llm.model.embed_tokens.")) return "llm.embed_tokens";
  if (starts("llm.model.norm.") || starts("llm.lm_head.")) return "llm.head";
  const std::string layers = "llm.model.layers.";
  if (starts(layers)) {
    const size_t end = name.find('.', layers.size());
    return "llm.layers." + name.substr(layers.size(), end - layers.size());
  }
  VLM_THROW(InternalError, "parameter ", name, " belongs to no sharding unit");
}

}  // namespace

std::vector<ShardingUnit> VisionLanguageModel::sharding_units() const {
  std::vector<ShardingUnit> units;
  const auto add_unit = [&](const std::string& name) { units.push_back({name, {}, {}, true}); };
  // VoRA's teacher runs after the LLM, in the distillation loss: its unit stands where it runs.
  const bool vora = static_cast<bool>(impl_->vision_embedding);
  if (!vora) add_unit("vision");
  add_unit("projector");
  add_unit("vision_embedding");
  add_unit("llm.embed_tokens");
  for (size_t i = 0; i < impl_->llm->model->layers.size(); ++i) {
    add_unit("llm.layers." + std::to_string(i));
  }
  add_unit("llm.head");
  if (vora) add_unit("vision");
  add_unit("aux_heads");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < units.size(); ++i) index[units[i].name] = i;
  for (const auto& [name, param] : named_parameters()) {
    const auto it = index.find(unit_of(name));
    VLM_CHECK(it != index.end(), InternalError, "parameter ", name, " belongs to no sharding unit");
    units[it->second].param_names.push_back(name);
  }
  // The embedding's backward scatters into its gradient; a tied head reads it (and gathers it).
  units[index.at("llm.embed_tokens")].backward_reads_parameters = false;
  if (impl_->config.llm.tie_word_embeddings)
    units[index.at("llm.head")].reads = {"llm.embed_tokens"};
  std::vector<ShardingUnit> non_empty;
  for (auto& unit : units) {
    if (!unit.param_names.empty()) non_empty.push_back(std::move(unit));
  }
  return non_empty;
}

void VisionLanguageModel::set_unit_observer(UnitObserver* observer) { impl_->observer = observer; }

void VisionLanguageModel::train(bool on) { impl_->root->train(on); }

const recipes::ModelSection& VisionLanguageModel::config() const { return impl_->config; }

int64_t VisionLanguageModel::image_tokens_per_image() const {
  if (impl_->vision_embedding) return impl_->vision_embedding->tokens_per_image();
  return impl_->vision ? impl_->vision->tokens_per_image() : 0;
}

int64_t VisionLanguageModel::vocab_size() const { return impl_->llm->vocab_size(); }

torch::nn::Module& VisionLanguageModel::module() { return *impl_->root; }

VisionLanguageModelImpl& VisionLanguageModel::impl() { return *impl_; }

}  // namespace vlm::models
