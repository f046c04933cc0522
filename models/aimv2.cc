#include "models/aimv2.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <string>

#include "common/error.h"
#include "models/attention.h"
#include "models/init.h"
#include "models/vision.h"

namespace vlm::models {
namespace {

// HF's _init_weights draws the position table at this std whatever initializer_range is.
constexpr double kPositionInitStd = 0.02;

int64_t patch_count(const recipes::VisionConfig& config) {
  const int64_t grid = config.image_size / config.patch_size;
  return grid * grid;
}

}  // namespace

Aimv2AttentionImpl::Aimv2AttentionImpl(int64_t hidden, int64_t heads, bool qkv_bias, bool proj_bias)
    : heads_(heads) {
  qkv = register_module("qkv", Linear(hidden, 3 * hidden, qkv_bias));
  proj = register_module("proj", Linear(hidden, hidden, proj_bias));
}

at::Tensor Aimv2AttentionImpl::forward(const at::Tensor& x) {
  const int64_t n = x.size(0), seq = x.size(1), head_dim = x.size(2) / heads_;
  // One projection's output read as [N, T, (q, k, v), heads, head_dim].
  const at::Tensor parts = qkv(x).view({n, seq, 3, heads_, head_dim});
  return proj(attention(parts.select(2, 0), parts.select(2, 1), parts.select(2, 2), at::Tensor()));
}

Aimv2MlpImpl::Aimv2MlpImpl(int64_t hidden, int64_t intermediate, bool bias) {
  fc1 = register_module("fc1", Linear(hidden, intermediate, bias));
  fc2 = register_module("fc2", Linear(intermediate, hidden, bias));
  fc3 = register_module("fc3", Linear(hidden, intermediate, bias));
}

at::Tensor Aimv2MlpImpl::forward(const at::Tensor& x) { return fc2(swiglu(fc1(x), fc3(x))); }

Aimv2BlockImpl::Aimv2BlockImpl(const recipes::VisionConfig& config) {
  const int64_t d = config.hidden_size;
  attn = register_module("attn",
                         Aimv2Attention(d, config.num_heads, config.qkv_bias, config.use_bias));
  norm_1 = register_module("norm_1", RmsNorm(d, config.rms_norm_eps));
  mlp = register_module("mlp", Aimv2Mlp(d, config.intermediate_size, config.use_bias));
  norm_2 = register_module("norm_2", RmsNorm(d, config.rms_norm_eps));
}

at::Tensor Aimv2BlockImpl::forward(const at::Tensor& x) {
  const at::Tensor h = x + attn(norm_1(x));
  return h + mlp(norm_2(h));
}

Aimv2PatchifierImpl::Aimv2PatchifierImpl(const recipes::VisionConfig& config) {
  proj = register_module("proj", PatchConv(config.hidden_size, config.patch_size));
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

at::Tensor Aimv2PatchifierImpl::forward(const at::Tensor& pixels) {
  return norm(proj(pixels).flatten(2).transpose(1, 2));
}

Aimv2PreprocessorImpl::Aimv2PreprocessorImpl(const recipes::VisionConfig& config) {
  pos_embed =
      register_parameter("pos_embed", new_parameter({1, patch_count(config), config.hidden_size}));
  patchifier = register_module("patchifier", Aimv2Patchifier(config));
}

at::Tensor Aimv2PreprocessorImpl::forward(const at::Tensor& pixels) {
  return patchifier(pixels) + pos_embed;
}

Aimv2TrunkImpl::Aimv2TrunkImpl(const recipes::VisionConfig& config) {
  auto list = register_module("blocks", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < config.num_layers; ++i) {
    blocks.push_back(list->register_module(std::to_string(i), Aimv2Block(config)));
  }
  post_trunk_norm =
      register_module("post_trunk_norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

Aimv2VisionImpl::Aimv2VisionImpl(const recipes::VisionConfig& config) : VisionTowerImpl(config) {
  VLM_CHECK(config.type == recipes::VisionType::kAimv2, ConfigError,
            "an AIMv2 tower needs model.vision.type aimv2, got ", recipes::name_of(config.type));
  preprocessor = register_module("preprocessor", Aimv2Preprocessor(config));
  trunk = register_module("trunk", Aimv2Trunk(config));
}

void Aimv2VisionImpl::initialize(at::Generator& gen) {
  const recipes::VisionConfig& config = this->config();
  if (config.position_init == recipes::PositionInit::kSincos) {
    c10::NoGradGuard no_grad;
    const int64_t grid = config.image_size / config.patch_size;
    // The table's row 0 is CLIP's class token: AIMv2 has patch rows only.
    const at::Tensor table = sincos_position_table(grid, config.hidden_size);
    preprocessor->pos_embed.copy_(table.narrow(0, 1, grid * grid).unsqueeze(0));
  } else {
    init::normal(preprocessor->pos_embed, kPositionInitStd, gen);
  }
  PatchConvImpl& conv = *preprocessor->patchifier->proj;
  init::normal(conv.weight, config.init_std, gen);
  init::zeros(conv.bias);
  for (auto& block : trunk->blocks) {
    for (Linear* linear : {&block->attn->qkv, &block->attn->proj, &block->mlp->fc1,
                           &block->mlp->fc2, &block->mlp->fc3}) {
      (*linear)->init_normal(config.init_std, gen);
    }
  }
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    if (auto* norm = item.value()->as<RmsNormImpl>()) init::ones(norm->weight);
  }
}

std::vector<at::Tensor> Aimv2VisionImpl::hidden_states(const at::Tensor& pixels, int64_t count) {
  const int64_t size = config().image_size;
  VLM_CHECK(
      pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == size && pixels.size(3) == size,
      ShapeError, "images must be [N, 3, ", size, ", ", size, "] for the AIMv2 tower, got ",
      pixels.sizes());
  const int64_t blocks = static_cast<int64_t>(trunk->blocks.size());
  const int64_t wanted = count < 0 ? blocks + 1 : std::min(count, blocks + 1);
  std::vector<at::Tensor> states;
  if (wanted == 0) return states;
  states.push_back(preprocessor(pixels));
  for (int64_t i = 0; i + 1 < wanted; ++i) states.push_back(trunk->blocks[i](states.back()));
  return states;
}

at::Tensor Aimv2VisionImpl::last_hidden_state(const at::Tensor& pixels) {
  return trunk->post_trunk_norm(hidden_states(pixels).back());
}

at::TensorOptions Aimv2VisionImpl::options() const { return preprocessor->pos_embed.options(); }

int64_t Aimv2VisionImpl::parameter_count(const recipes::VisionConfig& config) {
  const int64_t d = config.hidden_size, inner = config.intermediate_size, p = config.patch_size;
  const int64_t norm = d;
  const int64_t preprocessor = (d * 3 * p * p + d) + norm + patch_count(config) * d;
  const int64_t attention = (3 * d * d + (config.qkv_bias ? 3 * d : 0)) +  // qkv
                            (d * d + (config.use_bias ? d : 0));           // proj
  const int64_t mlp = 3 * d * inner + (config.use_bias ? 2 * inner + d : 0);
  const int64_t block = attention + mlp + 2 * norm;
  return preprocessor + config.num_layers * block + norm;
}

}  // namespace vlm::models
