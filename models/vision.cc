#include "models/vision.h"

#include <string>

#include "common/error.h"
#include "models/attention.h"
#include "models/init.h"

namespace vlm::models {

at::Tensor sincos_position_table(int64_t grid, int64_t dim) {
  const auto options = at::TensorOptions().dtype(at::kDouble);
  const int64_t quarter = dim / 4;
  const at::Tensor omega = at::pow(10000.0, -at::arange(quarter, options) / quarter);
  const at::Tensor coords = at::arange(grid, options);
  const at::Tensor rows = coords.repeat_interleave(grid);  // r of patch r * grid + c
  const at::Tensor cols = coords.repeat({grid});           // c of patch r * grid + c
  auto encode = [&](const at::Tensor& pos) {
    const at::Tensor angles = at::outer(pos, omega);
    return at::cat({angles.sin(), angles.cos()}, 1);
  };
  const at::Tensor patches = at::cat({encode(rows), encode(cols)}, 1);
  return at::cat({at::zeros({1, dim}, options), patches}, 0).to(at::kFloat);
}

ClipAttentionImpl::ClipAttentionImpl(int64_t hidden, int64_t heads) : heads_(heads) {
  k_proj = register_module("k_proj", Linear(hidden, hidden, true));
  v_proj = register_module("v_proj", Linear(hidden, hidden, true));
  q_proj = register_module("q_proj", Linear(hidden, hidden, true));
  out_proj = register_module("out_proj", Linear(hidden, hidden, true));
}

at::Tensor ClipAttentionImpl::forward(const at::Tensor& x) {
  const int64_t n = x.size(0), seq = x.size(1), head_dim = x.size(2) / heads_;
  const auto split = [&](const at::Tensor& t) { return t.view({n, seq, heads_, head_dim}); };
  return out_proj(attention(split(q_proj(x)), split(k_proj(x)), split(v_proj(x)), at::Tensor()));
}

ClipMlpImpl::ClipMlpImpl(int64_t hidden, int64_t intermediate) {
  fc1 = register_module("fc1", Linear(hidden, intermediate, true));
  fc2 = register_module("fc2", Linear(intermediate, hidden, true));
}

at::Tensor ClipMlpImpl::forward(const at::Tensor& x) {
  const at::Tensor h = fc1(x);
  return fc2(h * at::sigmoid(h * 1.702));
}

ClipLayerImpl::ClipLayerImpl(const recipes::VisionConfig& config) {
  self_attn = register_module("self_attn", ClipAttention(config.hidden_size, config.num_heads));
  layer_norm1 =
      register_module("layer_norm1", LayerNorm(config.hidden_size, config.layer_norm_eps));
  mlp = register_module("mlp", ClipMlp(config.hidden_size, config.intermediate_size));
  layer_norm2 =
      register_module("layer_norm2", LayerNorm(config.hidden_size, config.layer_norm_eps));
}

at::Tensor ClipLayerImpl::forward(const at::Tensor& x) {
  const at::Tensor h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const recipes::VisionConfig& config)
    : patch_size_(config.patch_size) {
  const int64_t d = config.hidden_size, grid = config.image_size / config.patch_size;
  class_embedding = register_parameter("class_embedding", new_parameter({d}));
  patch_embedding =
      register_module("patch_embedding", Weight(at::IntArrayRef{d, 3, patch_size_, patch_size_}));
  position_embedding = register_module("position_embedding", Embedding(1 + grid * grid, d));
}

at::Tensor ClipEmbeddingsImpl::forward(const at::Tensor& pixels) {
  const at::Tensor patches = at::conv2d(pixels, patch_embedding->weight, {}, patch_size_)
                                 .flatten(2)
                                 .transpose(1, 2);  // [N, patches, d]
  const at::Tensor cls = class_embedding.view({1, 1, -1}).expand({pixels.size(0), 1, -1});
  return at::cat({cls, patches}, 1) + position_embedding->weight;
}

ClipTransformerImpl::ClipTransformerImpl(const recipes::VisionConfig& config) {
  embeddings = register_module("embeddings", ClipEmbeddings(config));
  pre_layrnorm =
      register_module("pre_layrnorm", LayerNorm(config.hidden_size, config.layer_norm_eps));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < config.num_layers; ++i) {
    layers.push_back(list->register_module(std::to_string(i), ClipLayer(config)));
  }
  post_layernorm =
      register_module("post_layernorm", LayerNorm(config.hidden_size, config.layer_norm_eps));
}

ClipVisionImpl::ClipVisionImpl(const recipes::VisionConfig& config) : VisionTowerImpl(config) {
  VLM_CHECK(config.type == recipes::VisionType::kClip, ConfigError,
            "a CLIP tower needs model.vision.type clip, got ", recipes::name_of(config.type));
  vision_model = register_module("vision_model", ClipTransformer(config));
}

at::TensorOptions ClipVisionImpl::options() const {
  return vision_model->embeddings->class_embedding.options();
}

int64_t ClipVisionImpl::parameter_count(const recipes::VisionConfig& config) {
  const int64_t d = config.hidden_size, inner = config.intermediate_size, p = config.patch_size;
  const int64_t grid = config.image_size / p;
  const int64_t embeddings = d + d * 3 * p * p + (1 + grid * grid) * d;
  const int64_t layer_norm = 2 * d;
  const int64_t attention = 4 * (d * d + d);
  const int64_t mlp = (d * inner + inner) + (inner * d + d);
  const int64_t layer = attention + mlp + 2 * layer_norm;
  return embeddings + layer_norm + config.num_layers * layer + layer_norm;
}

void ClipVisionImpl::initialize(at::Generator& gen) {
  const recipes::VisionConfig& config = this->config();
  const double std = config.init_std;
  ClipEmbeddingsImpl& embeddings = *vision_model->embeddings;
  init::normal(embeddings.class_embedding, std, gen);
  init::normal(embeddings.patch_embedding->weight, std, gen);
  if (config.position_init == recipes::PositionInit::kSincos) {
    c10::NoGradGuard no_grad;
    const int64_t grid = config.image_size / config.patch_size;
    embeddings.position_embedding->weight.copy_(sincos_position_table(grid, config.hidden_size));
  } else {
    init::normal(embeddings.position_embedding->weight, std, gen);
  }
  for (auto& layer : vision_model->layers) {
    for (Linear* linear :
         {&layer->self_attn->k_proj, &layer->self_attn->v_proj, &layer->self_attn->q_proj,
          &layer->self_attn->out_proj, &layer->mlp->fc1, &layer->mlp->fc2}) {
      (*linear)->init_normal(std, gen);
    }
  }
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    if (auto* norm = item.value()->as<LayerNormImpl>()) {
      init::ones(norm->weight);
      init::zeros(norm->bias);
    }
  }
}

std::vector<at::Tensor> ClipVisionImpl::hidden_states(const at::Tensor& pixels, int64_t count) {
  const int64_t size = config().image_size;
  VLM_CHECK(
      pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == size && pixels.size(3) == size,
      ShapeError, "images must be [N, 3, ", size, ", ", size, "], got ", pixels.sizes());
  const int64_t layers = static_cast<int64_t>(vision_model->layers.size());
  const int64_t wanted = count < 0 ? layers + 1 : std::min(count, layers + 1);
  std::vector<at::Tensor> states;
  if (wanted == 0) return states;
  states.push_back(vision_model->pre_layrnorm(vision_model->embeddings(pixels)));
  for (int64_t i = 0; i + 1 < wanted; ++i) {
    states.push_back(vision_model->layers[i](states.back()));
  }
  return states;
}

}  // namespace vlm::models
