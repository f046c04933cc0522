#include "models/hf_config.h"

#include <nlohmann/json.hpp>

#include "common/bounded_json.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::models {
namespace {

using nlohmann::json;

// Typed access to one JSON object, with messages naming the file and the key.
class Fields {
 public:
  Fields(const json& object, std::string source) : object_(object), source_(std::move(source)) {}

  bool has(const char* key) const { return object_.contains(key) && !object_[key].is_null(); }

  int64_t positive_integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& value = object_[key];
    VLM_CHECK(value.is_number_integer() && value.get<int64_t>() > 0, ConfigError, source_, ": '",
              key, "' must be a positive integer, got ", value.dump());
    return value.get<int64_t>();
  }
  double positive_number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& value = object_[key];
    VLM_CHECK(value.is_number() && value.get<double>() > 0, ConfigError, source_, ": '", key,
              "' must be a positive number, got ", value.dump());
    return value.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    VLM_CHECK(object_[key].is_boolean(), ConfigError, source_, ": '", key,
              "' must be true or false, got ", object_[key].dump());
    return object_[key].get<bool>();
  }
  std::string text(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    VLM_CHECK(object_[key].is_string(), ConfigError, source_, ": '", key,
              "' must be a string, got ", object_[key].dump());
    return object_[key].get<std::string>();
  }
  [[noreturn]] void unsupported(const char* key, const std::string& why) const {
    VLM_THROW(ConfigError, source_, ": '", key, "' = ", object_[key].dump(), " is not supported (",
              why, ")");
  }

 private:
  const json& object_;
  std::string source_;
};

json parse(const std::string& text, const std::string& source) {
  json root = parse_bounded_json<json>(text, source);
  VLM_CHECK(root.is_object(), FormatError, source, ": config is not a JSON object");
  return root;
}

recipes::LlmFamily family_of(const json& root, const std::string& source) {
  const Fields fields(root, source);
  std::string type = fields.text("model_type", "");
  if (type.empty() && root.contains("architectures") && root["architectures"].is_array() &&
      !root["architectures"].empty() && root["architectures"][0].is_string()) {
    const std::string arch = root["architectures"][0].get<std::string>();
    if (arch == "LlamaForCausalLM") type = "llama";
    if (arch == "Qwen2ForCausalLM") type = "qwen2";
  }
  VLM_CHECK(type == "llama" || type == "qwen2", ConfigError, source, ": 'model_type' is '", type,
            "'; supported are llama and qwen2 (LlamaForCausalLM, Qwen2ForCausalLM)");
  return type == "qwen2" ? recipes::LlmFamily::kQwen2 : recipes::LlmFamily::kLlama;
}

}  // namespace

recipes::LlmConfig llm_config_from_hf_text(const std::string& json_text, const std::string& source,
                                           const recipes::LlmConfig& base) {
  const json root = parse(json_text, source);
  const Fields fields(root, source);
  const recipes::LlmFamily family = family_of(root, source);
  const bool qwen = family == recipes::LlmFamily::kQwen2;
  recipes::LlmConfig config = base;
  config.family = family;
  // HF's defaults (LlamaConfig, Qwen2Config) for absent keys.
  config.vocab_size = fields.positive_integer("vocab_size", qwen ? 151936 : 32000);
  config.hidden_size = fields.positive_integer("hidden_size", 4096);
  config.intermediate_size = fields.positive_integer("intermediate_size", qwen ? 22016 : 11008);
  config.num_layers = fields.positive_integer("num_hidden_layers", 32);
  config.num_heads = fields.positive_integer("num_attention_heads", 32);
  config.num_kv_heads = fields.positive_integer("num_key_value_heads", config.num_heads);
  config.rms_norm_eps = fields.positive_number("rms_norm_eps", 1e-6);
  config.rope_theta = fields.positive_number("rope_theta", 10000.0);
  config.max_position = fields.positive_integer("max_position_embeddings", qwen ? 32768 : 2048);
  config.tie_word_embeddings = fields.boolean("tie_word_embeddings", false);
  config.qkv_bias = fields.boolean("qkv_bias", qwen);

  if (fields.text("hidden_act", "silu") != "silu") {
    fields.unsupported("hidden_act", "the MLP is SwiGLU with silu");
  }
  if (fields.has("rope_scaling")) fields.unsupported("rope_scaling", "plain RoPE only");
  if (!qwen && fields.boolean("attention_bias", false)) {
    fields.unsupported("attention_bias", "biases on q/k/v only, as Qwen2 has");
  }
  if (fields.has("head_dim") &&
      fields.positive_integer("head_dim", 0) * config.num_heads != config.hidden_size) {
    fields.unsupported("head_dim", "head_dim must be hidden_size / num_attention_heads");
  }
  return config;
}

recipes::LlmConfig llm_config_from_hf(const std::string& config_json_path,
                                      const recipes::LlmConfig& base) {
  return llm_config_from_hf_text(files::read_all(config_json_path), config_json_path, base);
}

namespace {

// CLIPVisionModel's config.json, or a whole CLIPModel's with the tower under "vision_config".
recipes::VisionConfig clip_config_from_hf(const json& root, const std::string& source,
                                          const recipes::VisionConfig& base) {
  const bool whole_clip = root.contains("vision_config");
  VLM_CHECK(!whole_clip || root["vision_config"].is_object(), ConfigError, source,
            ": 'vision_config' is not an object");
  const json& vision = whole_clip ? root["vision_config"] : root;
  const std::string where = whole_clip ? source + " (vision_config)" : source;
  const Fields fields(vision, where);

  recipes::VisionConfig config = base;
  config.type = recipes::VisionType::kClip;
  // CLIPVisionConfig's defaults for absent keys.
  config.hidden_size = fields.positive_integer("hidden_size", 768);
  config.intermediate_size = fields.positive_integer("intermediate_size", 3072);
  config.num_layers = fields.positive_integer("num_hidden_layers", 12);
  config.num_heads = fields.positive_integer("num_attention_heads", 12);
  config.image_size = fields.positive_integer("image_size", 224);
  config.patch_size = fields.positive_integer("patch_size", 32);
  config.layer_norm_eps = fields.positive_number("layer_norm_eps", 1e-5);
  if (fields.text("hidden_act", "quick_gelu") != "quick_gelu") {
    fields.unsupported("hidden_act", "the CLIP MLP uses quick_gelu");
  }
  if (fields.positive_integer("num_channels", 3) != 3) {
    fields.unsupported("num_channels", "images are RGB");
  }
  return config;
}

// The remote-code AIMv2Model's config.json (apple/aimv2-*, model_type aimv2).
recipes::VisionConfig aimv2_config_from_hf(const json& root, const std::string& source,
                                           const recipes::VisionConfig& base) {
  const Fields fields(root, source);
  recipes::VisionConfig config = base;
  config.type = recipes::VisionType::kAimv2;
  config.drop_cls = false;  // no class token
  // AIMv2Config's defaults for absent keys (those of aimv2-large-patch14-224).
  config.hidden_size = fields.positive_integer("hidden_size", 1024);
  config.intermediate_size = fields.positive_integer("intermediate_size", 2816);
  config.num_layers = fields.positive_integer("num_hidden_layers", 24);
  config.num_heads = fields.positive_integer("num_attention_heads", 8);
  config.image_size = fields.positive_integer("image_size", 224);
  config.patch_size = fields.positive_integer("patch_size", 14);
  config.rms_norm_eps = fields.positive_number("rms_norm_eps", 1e-5);
  config.qkv_bias = fields.boolean("qkv_bias", false);
  config.use_bias = fields.boolean("use_bias", false);
  if (fields.text("hidden_act", "silu") != "silu") {
    fields.unsupported("hidden_act", "the AIMv2 MLP is SwiGLU with silu");
  }
  if (fields.positive_integer("num_channels", 3) != 3) {
    fields.unsupported("num_channels", "images are RGB");
  }
  for (const char* key : {"attention_dropout", "projection_dropout"}) {
    if (fields.has(key) && !(root[key].is_number() && root[key].get<double>() == 0.0)) {
      fields.unsupported(key, "the tower has no dropout");
    }
  }
  return config;
}

}  // namespace

recipes::VisionConfig vision_config_from_hf_text(const std::string& json_text,
                                                 const std::string& source,
                                                 const recipes::VisionConfig& base) {
  const json root = parse(json_text, source);
  const std::string root_type = Fields(root, source).text("model_type", "");
  if (root_type == "aimv2") return aimv2_config_from_hf(root, source, base);
  VLM_CHECK(root_type.empty() || root_type == "clip" || root_type == "clip_vision_model",
            ConfigError, source, ": 'model_type' is '", root_type,
            "'; supported are clip_vision_model and clip (CLIPVisionModel, CLIPModel) and aimv2 "
            "(the remote-code AIMv2Model of apple/aimv2-*)");
  return clip_config_from_hf(root, source, base);
}

recipes::VisionConfig vision_config_from_hf(const std::string& config_json_path,
                                            const recipes::VisionConfig& base) {
  return vision_config_from_hf_text(files::read_all(config_json_path), config_json_path, base);
}

std::string llm_config_to_hf(const recipes::LlmConfig& config, const std::string& torch_dtype) {
  const bool qwen = config.family == recipes::LlmFamily::kQwen2;
  nlohmann::ordered_json out;
  out["architectures"] =
      nlohmann::ordered_json::array({qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
  out["model_type"] = recipes::name_of(config.family);
  out["vocab_size"] = config.vocab_size;
  out["hidden_size"] = config.hidden_size;
  out["intermediate_size"] = config.intermediate_size;
  out["num_hidden_layers"] = config.num_layers;
  out["num_attention_heads"] = config.num_heads;
  out["num_key_value_heads"] = config.num_kv_heads > 0 ? config.num_kv_heads : config.num_heads;
  out["hidden_act"] = "silu";
  out["rms_norm_eps"] = config.rms_norm_eps;
  out["rope_theta"] = config.rope_theta;
  out["rope_scaling"] = nullptr;
  out["max_position_embeddings"] = config.max_position;
  out["tie_word_embeddings"] = config.tie_word_embeddings;
  if (!qwen) out["attention_bias"] = false;
  out["qkv_bias"] = config.qkv_bias;  // ours: q/k/v biases (implied by qwen2)
  out["initializer_range"] = config.init_std;
  out["torch_dtype"] = torch_dtype;
  return out.dump(2) + "\n";
}

namespace {

// What the remote-code AIMv2Model reads (its auto_map names the code files apple/aimv2-* ship).
// The shape keys CLIP's and AIMv2's config.json share, after the ones that name the class.
void put_vision_shape(const recipes::VisionConfig& config, nlohmann::ordered_json& out) {
  out["hidden_size"] = config.hidden_size;
  out["intermediate_size"] = config.intermediate_size;
  out["num_hidden_layers"] = config.num_layers;
  out["num_attention_heads"] = config.num_heads;
  out["num_channels"] = 3;
  out["image_size"] = config.image_size;
  out["patch_size"] = config.patch_size;
}

std::string aimv2_config_to_hf(const recipes::VisionConfig& config,
                               const std::string& torch_dtype) {
  nlohmann::ordered_json out;
  out["architectures"] = nlohmann::ordered_json::array({"AIMv2Model"});
  out["auto_map"] = {{"AutoConfig", "configuration_aimv2.AIMv2Config"},
                     {"AutoModel", "modeling_aimv2.AIMv2Model"}};
  out["model_type"] = "aimv2";
  put_vision_shape(config, out);
  out["rms_norm_eps"] = config.rms_norm_eps;
  out["qkv_bias"] = config.qkv_bias;
  out["use_bias"] = config.use_bias;
  out["attention_dropout"] = 0.0;
  out["projection_dropout"] = 0.0;
  out["initializer_range"] = config.init_std;
  out["torch_dtype"] = torch_dtype;
  return out.dump(2) + "\n";
}

}  // namespace

std::string vision_config_to_hf(const recipes::VisionConfig& config,
                                const std::string& torch_dtype) {
  if (config.type == recipes::VisionType::kAimv2) return aimv2_config_to_hf(config, torch_dtype);
  nlohmann::ordered_json out;
  out["architectures"] = nlohmann::ordered_json::array({"CLIPVisionModel"});
  out["model_type"] = "clip_vision_model";
  put_vision_shape(config, out);
  out["hidden_act"] = "quick_gelu";
  out["layer_norm_eps"] = config.layer_norm_eps;
  out["initializer_range"] = config.init_std;
  out["torch_dtype"] = torch_dtype;
  return out.dump(2) + "\n";
}

}  // namespace vlm::models
