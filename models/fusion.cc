#include "models/fusion.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"
#include "models/init.h"
#include "models/llm.h"
#include "models/vision_tower.h"

namespace vlm::models {
namespace {

// LlamaRMSNorm's default eps: the public concat layer builds its vision_norm without one.
constexpr double kVisionNormEps = 1e-6;
// The public concat layer's W_concat scale (fusion_layer.py, commented out): small enough that
// alpha = 1 leaves the frozen Q, K, V almost as they were at step 0.
constexpr double kPublicConcatStd = 1e-4;

bool normalises_vision(const recipes::FusionConfig& config) {
  switch (config.vision_norm) {
    case recipes::FusionVisionNorm::kAuto:
      return config.mode == recipes::FusionMode::kConcat;
    case recipes::FusionVisionNorm::kRms:
      return true;
    case recipes::FusionVisionNorm::kNone:
      return false;
  }
  return false;
}

at::Tensor scalar_parameter(torch::nn::Module& module, const std::string& name) {
  return module.register_parameter(name, new_parameter({1}));
}

// The hidden-state index (HF's output_hidden_states numbering) of a vision_layers entry.
int64_t hidden_state_index(int64_t layer, int64_t tower_layers) {
  const int64_t index = layer >= 0 ? layer : tower_layers + 1 + layer;
  VLM_CHECK(index >= 0 && index <= tower_layers, ConfigError, "model.fusion.vision_layers has ",
            layer, " but the vision tower has hidden states ", -(tower_layers + 1), "..",
            tower_layers);
  return index;
}

}  // namespace

FusionImpl::FusionImpl(const recipes::FusionConfig& config, int64_t hidden, int64_t q_width,
                       int64_t kv_width, int64_t vision_width)
    : concat_(config.mode == recipes::FusionMode::kConcat), vision_width_(vision_width) {
  VLM_CHECK(vision_width > 0, ConfigError,
            "model.fusion: the vision stream must have a positive width, got ", vision_width);
  alpha_q = scalar_parameter(*this, "alpha_q");
  alpha_k = scalar_parameter(*this, "alpha_k");
  alpha_v = scalar_parameter(*this, "alpha_v");
  if (normalises_vision(config)) {
    vision_norm = register_module("vision_norm", RmsNorm(vision_width, kVisionNormEps));
  }
  if (concat_) {
    t2v = register_module("t2v", Linear(hidden, vision_width, false));
    q_concat = register_module("q_concat", Linear(2 * vision_width, q_width, false));
    k_concat = register_module("k_concat", Linear(2 * vision_width, kv_width, false));
    v_concat = register_module("v_concat", Linear(2 * vision_width, kv_width, false));
    return;
  }
  q_down = register_module("q_down", Linear(vision_width, hidden, true));
  q_up = register_module("q_up", Linear(hidden, q_width, true));
  k_down = register_module("k_down", Linear(vision_width, hidden, true));
  k_up = register_module("k_up", Linear(hidden, kv_width, true));
  v_down = register_module("v_down", Linear(vision_width, hidden, true));
  v_up = register_module("v_up", Linear(hidden, kv_width, true));
}

void FusionImpl::initialize(const recipes::FusionConfig& config, double llm_std,
                            at::Generator& gen) {
  for (const at::Tensor& alpha : {alpha_q, alpha_k, alpha_v}) {
    c10::NoGradGuard no_grad;
    alpha.fill_(config.alpha_init);
  }
  if (vision_norm) init::ones(vision_norm->weight);
  const std::vector<Linear*> linears = {&t2v,  &q_concat, &k_concat, &v_concat, &q_down,
                                        &q_up, &k_down,   &k_up,     &v_down,   &v_up};
  if (config.init == recipes::FusionInit::kLlmStd) {
    for (Linear* linear : linears) {
      if (*linear) (*linear)->init_normal(llm_std, gen);
    }
    return;
  }
  if (concat_) {
    // The public concat layer's up_A: unit-variance features of t2v(H) for an H of unit RMS.
    t2v->init_normal(1.0 / std::sqrt(static_cast<double>(vision_width_)), gen);
    for (Linear* linear : {&q_concat, &k_concat, &v_concat}) {
      (*linear)->init_normal(kPublicConcatStd, gen);
    }
    return;
  }
  for (Linear* linear : linears) {
    if (*linear) (*linear)->init_torch_default(gen);
  }
}

FusionDeltas FusionImpl::forward(const at::Tensor& hidden, const at::Tensor& vision) {
  const at::Tensor stream =
      vision.defined()
          ? vision.to(hidden.scalar_type())
          : at::zeros({hidden.size(0), hidden.size(1), vision_width_}, hidden.options());
  VLM_CHECK(stream.dim() == 3 && stream.size(0) == hidden.size(0) &&
                stream.size(1) == hidden.size(1) && stream.size(2) == vision_width_,
            ShapeError, "the vision stream must be [", hidden.size(0), ", ", hidden.size(1), ", ",
            vision_width_, "], got ", stream.sizes());
  const at::Tensor vision_in = vision_norm ? vision_norm(stream) : stream;
  if (concat_) {
    const at::Tensor joint = at::cat({t2v(hidden), vision_in}, -1);
    return {alpha_q * q_concat(joint), alpha_k * k_concat(joint), alpha_v * v_concat(joint)};
  }
  const auto branch = [&](Linear& down, Linear& up) { return up(at::gelu(down(vision_in))); };
  return {alpha_q * branch(q_down, q_up), alpha_k * branch(k_down, k_up),
          alpha_v * branch(v_down, v_up)};
}

int64_t fusion_vision_width(const recipes::VisionConfig& vision,
                            const recipes::FusionConfig& fusion) {
  for (const int64_t layer : fusion.vision_layers) hidden_state_index(layer, vision.num_layers);
  return static_cast<int64_t>(fusion.vision_layers.size()) * vision.hidden_size;
}

void add_fusion(CausalLmImpl& llm, const recipes::FusionConfig& config, int64_t vision_width,
                uint64_t seed) {
  VLM_CHECK(!config.layers.empty(), ConfigError,
            "model.fusion.layers is empty: inverse_llava needs at least one fusion block");
  VLM_CHECK(!config.vision_layers.empty(), ConfigError,
            "model.fusion.vision_layers is empty: inverse_llava needs at least one vision layer");
  const int64_t blocks = static_cast<int64_t>(llm.model->layers.size());
  std::set<int64_t> chosen;
  for (const int64_t block : config.layers) {
    VLM_CHECK(block >= 0 && block < blocks, ConfigError, "model.fusion.layers has ", block,
              " but the LLM has blocks 0..", blocks - 1);
    VLM_CHECK(chosen.insert(block).second, ConfigError, "model.fusion.layers names block ", block,
              " twice");
  }
  const recipes::LlmConfig& llm_config = llm.config();
  const int64_t head_dim = llm_config.hidden_size / llm_config.num_heads;
  const int64_t q_width = llm_config.num_heads * head_dim;
  const int64_t kv_width = kv_heads_of(llm_config) * head_dim;
  at::Generator gen = init::generator(seed, "fusion");
  for (const int64_t block : chosen) {  // ascending: the draws do not depend on the list's order
    LlmAttentionImpl& attention = *llm.model->layers[block]->self_attn;
    VLM_CHECK(!attention.fusion, ConfigError, "block ", block, " of the LLM already fuses");
    attention.fusion = attention.register_module(
        "fusion", Fusion(config, llm_config.hidden_size, q_width, kv_width, vision_width));
    attention.fusion->to(attention.q_proj->weight.device(), attention.q_proj->weight.scalar_type());
    attention.fusion->initialize(config, llm_config.init_std, gen);
  }
}

at::Tensor fusion_features(VisionTowerImpl& vision, const at::Tensor& pixels,
                           const std::vector<int64_t>& vision_layers) {
  VLM_CHECK(!vision_layers.empty(), ConfigError, "model.fusion.vision_layers is empty");
  const int64_t tower_layers = vision.config().num_layers;
  std::vector<int64_t> indices;
  for (const int64_t layer : vision_layers) {
    indices.push_back(hidden_state_index(layer, tower_layers));
  }
  const int64_t needed = *std::max_element(indices.begin(), indices.end()) + 1;
  const std::vector<at::Tensor> states = vision.hidden_states(pixels, needed);
  std::vector<at::Tensor> selected;
  for (const int64_t index : indices) selected.push_back(states[index]);
  const at::Tensor features = at::cat(selected, -1);
  return vision.config().drop_cls ? vision.patch_tokens(features) : features;
}

bool is_fusion_parameter(const std::string& name) {
  return name.find(".self_attn.fusion.") != std::string::npos;
}

}  // namespace vlm::models
