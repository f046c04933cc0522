// HF import and export of VisionLanguageModel's parts.
#include <cmath>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "models/fusion.h"
#include "models/hf_config.h"
#include "models/hf_folder.h"
#include "models/init.h"
#include "models/lora.h"
#include "models/model.h"
#include "models/model_impl.h"
#include "models/safetensors.h"

namespace vlm::models {
namespace {

const char kProjectorPrefix[] = "model.mm_projector.";  // LLaVA's names

// A module's parameters by their names inside it, without LoRA factors (they are not part of a
// HF checkpoint).
NamedTensors base_parameters(const torch::nn::Module& module, const std::string& prefix = "") {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!is_lora_parameter(item.key())) out.emplace_back(prefix + item.key(), item.value());
  }
  return out;
}

// The parameters a HF checkpoint of the LLM holds: Inverse-LLaVA's fusion modules are ours, so
// that the base LLM's folder loads into an inverse_llava model (they are saved and loaded
// beside them by save_hf and load_saved).
NamedTensors hf_llm_parameters(const CausalLmImpl& llm) {
  NamedTensors out;
  for (auto& item : base_parameters(llm)) {
    if (!is_fusion_parameter(item.first)) out.push_back(std::move(item));
  }
  return out;
}

NamedTensors fusion_parameters(const CausalLmImpl& llm) {
  NamedTensors out;
  for (auto& item : base_parameters(llm)) {
    if (is_fusion_parameter(item.first)) out.push_back(std::move(item));
  }
  return out;
}

// Tensors a vision checkpoint may hold beside the tower's parameters.
bool ignorable_vision_tensor(recipes::VisionType type, const std::string& name) {
  if (type != recipes::VisionType::kClip)
    return false;  // AIMv2Model's checkpoint holds the tower and nothing else
  // A whole CLIPModel checkpoint also holds the text side, which we do not build.
  return name == "vision_model.embeddings.position_ids" || !starts_with(name, "vision_model.");
}

bool same_number(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
}

class Differences {
 public:
  template <typename T>
  void check(const char* key, const T& model, const T& file) {
    bool same;
    if constexpr (std::is_floating_point_v<T>) {
      same = same_number(model, file);
    } else {
      same = model == file;
    }
    if (!same) out_ << "\n  " << key << ": model " << model << ", file " << file;
  }
  void raise_if_any(const std::string& source) const {
    VLM_CHECK(out_.str().empty(), ConfigError, source, " describes another model:", out_.str());
  }

 private:
  std::ostringstream out_;
};

}  // namespace

void check_same_settings(const recipes::LlmConfig& model, const recipes::LlmConfig& file,
                         const std::string& source) {
  Differences diff;
  diff.check("model_type", recipes::name_of(model.family), recipes::name_of(file.family));
  diff.check("rope_theta", model.rope_theta, file.rope_theta);
  diff.check("rms_norm_eps", model.rms_norm_eps, file.rms_norm_eps);
  diff.check("qkv_bias", model.qkv_bias, file.qkv_bias);
  diff.check("tie_word_embeddings", model.tie_word_embeddings, file.tie_word_embeddings);
  diff.check("num_attention_heads", model.num_heads, file.num_heads);
  diff.raise_if_any(source);
}

void check_same_settings(const recipes::VisionConfig& model, const recipes::VisionConfig& file,
                         const std::string& source) {
  Differences diff;
  diff.check("model_type", recipes::name_of(model.type), recipes::name_of(file.type));
  diff.check("layer_norm_eps", model.layer_norm_eps, file.layer_norm_eps);
  diff.check("rms_norm_eps", model.rms_norm_eps, file.rms_norm_eps);
  diff.check("qkv_bias", model.qkv_bias, file.qkv_bias);
  diff.check("use_bias", model.use_bias, file.use_bias);
  diff.check("num_attention_heads", model.num_heads, file.num_heads);
  diff.check("patch_size", model.patch_size, file.patch_size);
  diff.raise_if_any(source);
}

void load_hf_part(VisionLanguageModelImpl& model, const std::string& part,
                  const std::string& folder) {
  const std::string config_path = files::join(folder, "config.json");
  if (part == "llm") {
    const recipes::LlmConfig& live = model.llm->config();
    check_same_settings(live, llm_config_from_hf(config_path, live), config_path);
    const bool tied = live.tie_word_embeddings;
    load_weights(HfWeights(folder), hf_llm_parameters(*model.llm), [&](const std::string& name) {
      return ends_with(name, ".rotary_emb.inv_freq") || (tied && name == "lm_head.weight") ||
             is_fusion_parameter(name);
    });
    return;
  }
  if (part == "vision") {
    VLM_CHECK(model.vision, ConfigError, "cannot load vision weights from ", folder,
              ": model.vision.type is none");
    const recipes::VisionConfig& live = model.vision->config();
    check_same_settings(live, vision_config_from_hf(config_path, live), config_path);
    load_weights(HfWeights(folder), base_parameters(*model.vision),
                 [&](const std::string& name) { return ignorable_vision_tensor(live.type, name); });
    return;
  }
  VLM_THROW(ConfigError, "load_hf: part must be llm or vision, got '", part, "'");
}

void VisionLanguageModel::load_hf(const std::string& part, const std::string& folder) {
  load_hf_part(*impl_, part, folder);
}

namespace {

// The LLM's tensors as HF has them, with each adapter folded into a copy of its weight.
NamedTensors merged_llm_tensors(CausalLmImpl& llm) {
  std::map<std::string, at::Tensor> merged;
  for (const auto& item : llm.named_modules("", /*include_self=*/false)) {
    const auto* linear = item.value()->as<LinearImpl>();
    if (linear != nullptr && linear->has_lora()) {
      merged[item.key() + ".weight"] = linear->merged_weight();
    }
  }
  NamedTensors out = base_parameters(llm);
  for (auto& [name, tensor] : out) {
    const auto it = merged.find(name);
    if (it != merged.end()) tensor = it->second;
  }
  return out;
}

}  // namespace

void VisionLanguageModel::save_hf(const std::string& folder) const {
  VisionLanguageModelImpl& m = *impl_;
  const std::string llm_folder = files::join(folder, "llm");
  files::make_directories(llm_folder);
  const at::ScalarType llm_dtype = m.llm->model->embed_tokens->weight.scalar_type();
  files::write_atomically(files::join(llm_folder, "config.json"),
                          llm_config_to_hf(m.llm->config(), torch_dtype_name(llm_dtype)));
  write_safetensors(files::join(llm_folder, "model.safetensors"), merged_llm_tensors(*m.llm));
  if (m.vision) {
    const std::string vision_folder = files::join(folder, "vision");
    files::make_directories(vision_folder);
    const at::ScalarType dtype = m.vision->options().dtype().toScalarType();
    files::write_atomically(files::join(vision_folder, "config.json"),
                            vision_config_to_hf(m.vision->config(), torch_dtype_name(dtype)));
    write_safetensors(files::join(vision_folder, "model.safetensors"), base_parameters(*m.vision));
  }
  if (m.vision_embedding) save_vision_embedding(*m.vision_embedding, folder);
  if (m.projector) {
    write_safetensors(files::join(folder, "projector.safetensors"),
                      base_parameters(*m.projector, kProjectorPrefix));
  }
}

void VisionLanguageModel::load_saved(const std::string& folder) {
  VisionLanguageModelImpl& m = *impl_;
  const std::string llm_folder = files::join(folder, "llm");
  load_hf_part(m, "llm", llm_folder);
  const NamedTensors fusion = fusion_parameters(*m.llm);
  if (!fusion.empty()) {
    load_weights(HfWeights(llm_folder), fusion,
                 [](const std::string& name) { return !is_fusion_parameter(name); });
  }
  for (const auto& module : m.llm->modules(/*include_self=*/false)) {
    auto* linear = module->as<LinearImpl>();
    if (linear != nullptr && linear->has_lora()) linear->zero_lora_b();
  }
  if (m.vision) load_hf_part(m, "vision", files::join(folder, "vision"));
  if (m.vision_embedding) load_vision_embedding(*m.vision_embedding, folder);
  if (m.projector) {
    load_weights(HfWeights::from_file(files::join(folder, "projector.safetensors")),
                 base_parameters(*m.projector, kProjectorPrefix),
                 [](const std::string&) { return false; });
  }
}

}  // namespace vlm::models
