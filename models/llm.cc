#include "models/llm.h"

#include <c10/core/GradMode.h>

#include <string>

#include "common/error.h"
#include "models/attention.h"
#include "models/init.h"
#include "models/model.h"
#include "models/recompute.h"

namespace vlm::models {

int64_t kv_heads_of(const recipes::LlmConfig& config) {
  return config.num_kv_heads > 0 ? config.num_kv_heads : config.num_heads;
}

void validate_llm_config(const recipes::LlmConfig& config, int64_t vocab_size) {
  VLM_CHECK(vocab_size > 0, ConfigError,
            "model.llm.vocab_size is 0 and no tokenizer size was given");
  VLM_CHECK(config.hidden_size > 0, ConfigError, "model.llm.hidden_size must be positive");
  VLM_CHECK(config.intermediate_size > 0, ConfigError,
            "model.llm.intermediate_size must be positive");
  VLM_CHECK(config.num_layers >= 0, ConfigError, "model.llm.num_layers must not be negative");
  VLM_CHECK(config.num_heads > 0 && config.hidden_size % config.num_heads == 0, ConfigError,
            "model.llm.num_heads (", config.num_heads, ") must divide model.llm.hidden_size (",
            config.hidden_size, ")");
  VLM_CHECK((config.hidden_size / config.num_heads) % 2 == 0, ConfigError,
            "model.llm: the head dimension hidden_size / num_heads must be even for RoPE");
  const int64_t kv_heads = kv_heads_of(config);
  VLM_CHECK(kv_heads > 0 && config.num_heads % kv_heads == 0, ConfigError,
            "model.llm.num_kv_heads (", kv_heads, ") must divide model.llm.num_heads (",
            config.num_heads, ")");
  VLM_CHECK(config.rope_theta > 0, ConfigError, "model.llm.rope_theta must be positive");
  VLM_CHECK(config.rms_norm_eps > 0, ConfigError, "model.llm.rms_norm_eps must be positive");
}

LlmAttentionImpl::LlmAttentionImpl(const recipes::LlmConfig& config)
    : heads_(config.num_heads),
      kv_heads_(kv_heads_of(config)),
      head_dim_(config.hidden_size / config.num_heads) {
  const int64_t d = config.hidden_size;
  // HF's registration order, so that parameter listings read the same.
  q_proj = register_module("q_proj", Linear(d, heads_ * head_dim_, config.qkv_bias));
  k_proj = register_module("k_proj", Linear(d, kv_heads_ * head_dim_, config.qkv_bias));
  v_proj = register_module("v_proj", Linear(d, kv_heads_ * head_dim_, config.qkv_bias));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, d, false));
}

at::Tensor LlmAttentionImpl::forward(const at::Tensor& x, const RotaryAngles& angles,
                                     const at::Tensor& mask, const at::Tensor& vision) {
  const int64_t batch = x.size(0), seq = x.size(1);
  at::Tensor query = q_proj(x), key = k_proj(x), value = v_proj(x);
  if (fusion) {
    const FusionDeltas deltas = fusion(x, vision);
    query = query + deltas.q;
    key = key + deltas.k;
    value = value + deltas.v;
  }
  const at::Tensor q = apply_rotary(query.view({batch, seq, heads_, head_dim_}), angles);
  const at::Tensor k = apply_rotary(key.view({batch, seq, kv_heads_, head_dim_}), angles);
  const at::Tensor v = value.view({batch, seq, kv_heads_, head_dim_});
  return o_proj(attention(q, k, v, mask));
}

SwiGluImpl::SwiGluImpl(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", Linear(hidden, intermediate, false));
  up_proj = register_module("up_proj", Linear(hidden, intermediate, false));
  down_proj = register_module("down_proj", Linear(intermediate, hidden, false));
}

at::Tensor SwiGluImpl::forward(const at::Tensor& x) {
  return down_proj(swiglu(gate_proj(x), up_proj(x)));
}

DecoderLayerImpl::DecoderLayerImpl(const recipes::LlmConfig& config) {
  self_attn = register_module("self_attn", LlmAttention(config));
  mlp = register_module("mlp", SwiGlu(config.hidden_size, config.intermediate_size));
  input_layernorm =
      register_module("input_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const RotaryAngles& angles,
                                     const at::Tensor& mask, const at::Tensor& vision) {
  const at::Tensor h = x + self_attn(input_layernorm(x), angles, mask, vision);
  return h + mlp(post_attention_layernorm(h));
}

DecoderStackImpl::DecoderStackImpl(const recipes::LlmConfig& config, int64_t vocab_size) {
  embed_tokens = register_module("embed_tokens", Embedding(vocab_size, config.hidden_size));
  auto list = register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < config.num_layers; ++i) {
    layers.push_back(list->register_module(std::to_string(i), DecoderLayer(config)));
  }
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

namespace {

recipes::LlmConfig validated(recipes::LlmConfig config, int64_t vocab_size) {
  validate_llm_config(config, vocab_size);
  config.vocab_size = vocab_size;
  return config;
}

}  // namespace

CausalLmImpl::CausalLmImpl(const recipes::LlmConfig& config, int64_t vocab_size)
    : config_(validated(config, vocab_size)),
      vocab_size_(vocab_size),
      rope_(config.hidden_size / config.num_heads, config.rope_theta,
            std::min<int64_t>(config.max_position, 4096)) {
  model = register_module("model", DecoderStack(config, vocab_size));
  if (!config.tie_word_embeddings) {
    lm_head = register_module("lm_head", Linear(config.hidden_size, vocab_size, false));
  }
}

void CausalLmImpl::initialize(at::Generator& gen) {
  const double std = config_.init_std;
  init::normal(model->embed_tokens->weight, std, gen);
  for (auto& layer : model->layers) {
    for (Linear* linear : {&layer->self_attn->q_proj, &layer->self_attn->k_proj,
                           &layer->self_attn->v_proj, &layer->self_attn->o_proj,
                           &layer->mlp->gate_proj, &layer->mlp->up_proj, &layer->mlp->down_proj}) {
      (*linear)->init_normal(std, gen);
    }
    init::ones(layer->input_layernorm->weight);
    init::ones(layer->post_attention_layernorm->weight);
  }
  init::ones(model->norm->weight);
  if (lm_head) lm_head->init_normal(std, gen);
}

void CausalLmImpl::grow_vocabulary(int64_t rows) {
  VLM_CHECK(rows >= vocab_size_, InternalError, "grow_vocabulary: ", rows, " rows is fewer than ",
            vocab_size_);
  c10::NoGradGuard no_grad;
  const auto grow = [&](const at::Tensor& weight) {
    const at::Tensor old = weight.detach();
    const at::Tensor mean = old.mean(0, /*keepdim=*/true);
    at::Tensor grown = at::cat({old, mean.expand({rows - old.size(0), old.size(1)})}, 0);
    weight.set_data(grown);
  };
  grow(model->embed_tokens->weight);
  if (lm_head) grow(lm_head->weight);
  vocab_size_ = rows;
  config_.vocab_size = rows;
}

at::Tensor CausalLmImpl::embed(const at::Tensor& ids) { return model->embed_tokens(ids); }

LlmHiddens CausalLmImpl::run(const at::Tensor& embeds, const at::Tensor& position_ids,
                             const at::Tensor& mask, bool keep_block_hiddens,
                             UnitObserver* observer, const at::Tensor& vision_stream) {
  const RotaryAngles angles =
      rope_.lookup(embeds.size(1), position_ids, embeds.scalar_type(), embeds.device());
  LlmHiddens out;
  at::Tensor h = embeds;
  for (size_t i = 0; i < model->layers.size(); ++i) {
    const std::string unit = observer ? "llm.layers." + std::to_string(i) : std::string();
    if (observer) observer->before(unit);
    DecoderLayer& layer = model->layers[i];
    const at::Tensor vision = layer->fuses() ? vision_stream : at::Tensor();
    if (observer && observer->recompute(unit)) {
      std::vector<at::Tensor> trainable;
      for (const auto& p : layer->parameters()) {
        if (p.requires_grad()) trainable.push_back(p);
      }
      // A vision stream that carries a graph (a training tower) is listed with the parameters,
      // so that the recomputed block's gradient reaches it.
      if (vision.defined() && vision.requires_grad()) trainable.push_back(vision);
      h = recomputed([layer, angles, mask, vision](
                         const at::Tensor& x) mutable { return layer(x, angles, mask, vision); },
                     h, trainable);
    } else {
      h = layer(h, angles, mask, vision);
    }
    if (observer) h = observer->after(unit, h);
    if (keep_block_hiddens) out.block_hiddens.push_back(h);
  }
  if (observer) observer->before("llm.head");
  out.last_hidden = model->norm(h);
  return out;
}

const at::Tensor& CausalLmImpl::head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

at::Tensor CausalLmImpl::logits(const at::Tensor& last_hidden) {
  return lm_head ? lm_head(last_hidden) : at::linear(last_hidden, head_weight());
}

}  // namespace vlm::models
