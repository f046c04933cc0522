// The layers against plain formulas written out independently (per head, per rotation pair), to
// pin the conventions real checkpoints depend on: rotate_half RoPE pairs (i, i + d/2), query
// head h reading key/value head h / (H / Hkv), RMSNorm and SwiGLU, CLIP's QuickGELU blocks.
#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <cmath>

#include "models/attention_mask.h"
#include "models/init.h"
#include "models/llm.h"
#include "models/vision.h"

namespace vlm::models {
namespace {

using at::indexing::Slice;

const auto kDouble = at::TensorOptions().dtype(at::kDouble);

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  return x / at::sqrt(x.pow(2).mean(-1, true) + eps) * w;
}

// RoPE on one head vector at one position.
at::Tensor rotate(const at::Tensor& v, int64_t position, double theta) {
  const int64_t d = v.size(0), half = d / 2;
  at::Tensor out = v.clone();
  for (int64_t i = 0; i < half; ++i) {
    const double angle = position * std::pow(theta, -2.0 * i / d);
    const double a = v[i].item<double>(), b = v[i + half].item<double>();
    out[i] = a * std::cos(angle) - b * std::sin(angle);
    out[i + half] = b * std::cos(angle) + a * std::sin(angle);
  }
  return out;
}

TEST(Reference, DecoderLayerMatchesPlainFormulas) {
  recipes::LlmConfig config;
  config.hidden_size = 8;
  config.intermediate_size = 12;
  config.num_layers = 1;
  config.num_heads = 4;
  config.num_kv_heads = 2;
  config.qkv_bias = true;
  config.rope_theta = 50.0;
  config.init_std = 0.4;
  CausalLm llm(config, 7);
  at::Generator gen = init::generator(1, "reference");
  llm->initialize(gen);
  llm->to(at::kDouble);
  auto& layer = llm->model->layers[0];
  {
    c10::NoGradGuard no_grad;
    for (auto& p : llm->parameters()) {
      if (p.dim() == 1) p.normal_(1.0, 0.3, gen);  // biases and norm weights, not trivial
    }
  }
  const int64_t T = 5, H = 4, D = 2;
  const at::Tensor x = at::randn({1, T, 8}, gen, kDouble);
  const at::Tensor mask = build_attention_mask(1, T, {4}, {{0, 1, 2}}, at::kDouble);
  at::Tensor got;
  {
    c10::NoGradGuard no_grad;
    got = llm->run(x, at::Tensor(), mask, true).block_hiddens[0][0];
  }

  c10::NoGradGuard no_grad;
  const auto& attn = layer->self_attn;
  const at::Tensor h = rms_norm(x[0], layer->input_layernorm->weight, config.rms_norm_eps);
  const at::Tensor q = at::linear(h, attn->q_proj->weight, attn->q_proj->bias);  // [T, H*D]
  const at::Tensor k = at::linear(h, attn->k_proj->weight, attn->k_proj->bias);  // [T, 2*D]
  const at::Tensor v = at::linear(h, attn->v_proj->weight, attn->v_proj->bias);
  at::Tensor heads = at::zeros({T, H * D}, kDouble);
  for (int64_t head = 0; head < H; ++head) {
    const int64_t kv = head / 2;
    for (int64_t i = 0; i < T; ++i) {
      const at::Tensor qi = rotate(q[i].slice(0, head * D, head * D + D), i, config.rope_theta);
      at::Tensor scores = at::zeros({T}, kDouble);
      for (int64_t j = 0; j < T; ++j) {
        const at::Tensor kj = rotate(k[j].slice(0, kv * D, kv * D + D), j, config.rope_theta);
        scores[j] = (qi * kj).sum() / std::sqrt(static_cast<double>(D)) + mask[0][0][i][j];
      }
      const at::Tensor p = at::softmax(scores, 0);
      heads[i].slice(0, head * D, head * D + D) = at::matmul(p, v.slice(1, kv * D, kv * D + D));
    }
  }
  const at::Tensor after_attn = x[0] + at::linear(heads, attn->o_proj->weight);
  const at::Tensor g =
      rms_norm(after_attn, layer->post_attention_layernorm->weight, config.rms_norm_eps);
  const auto& mlp = layer->mlp;
  const at::Tensor gate = at::linear(g, mlp->gate_proj->weight);
  const at::Tensor expected =
      after_attn + at::linear(gate / (1 + at::exp(-gate)) * at::linear(g, mlp->up_proj->weight),
                              mlp->down_proj->weight);
  EXPECT_TRUE(at::allclose(got, expected, 1e-10, 1e-12)) << (got - expected).abs().max();
}

TEST(Reference, ClipLayerMatchesPlainFormulas) {
  recipes::VisionConfig config;
  config.image_size = 8;
  config.patch_size = 4;
  config.hidden_size = 6;
  config.intermediate_size = 10;
  config.num_layers = 1;
  config.num_heads = 2;
  config.init_std = 0.4;
  ClipVision vit(config);
  at::Generator gen = init::generator(2, "reference");
  vit->initialize(gen);
  vit->to(at::kDouble);
  c10::NoGradGuard no_grad;
  for (auto& p : vit->parameters()) {
    if (p.dim() == 1) p.normal_(0.5, 0.3, gen);
  }
  const at::Tensor pixels = at::randn({1, 3, 8, 8}, gen, kDouble);
  const auto states = vit->hidden_states(pixels);
  ASSERT_EQ(states.size(), 2u);

  auto& m = *vit->vision_model;
  // Embeddings: patch p at (row r, column c) is the dot product of the kernel with its 4x4 block.
  at::Tensor tokens = at::zeros({5, 6}, kDouble);
  tokens[0] = m.embeddings->class_embedding;
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 2; ++c) {
      const at::Tensor block = pixels[0].slice(1, 4 * r, 4 * r + 4).slice(2, 4 * c, 4 * c + 4);
      tokens[1 + 2 * r + c] =
          (m.embeddings->patch_embedding->weight * block.unsqueeze(0)).sum({1, 2, 3});
    }
  }
  tokens = tokens + m.embeddings->position_embedding->weight;
  auto layer_norm = [](const at::Tensor& t, const LayerNorm& norm) {
    const at::Tensor mean = t.mean(-1, true);
    const at::Tensor var = (t - mean).pow(2).mean(-1, true);
    return (t - mean) / at::sqrt(var + 1e-5) * norm->weight + norm->bias;
  };
  const at::Tensor h0 = layer_norm(tokens, m.pre_layrnorm);
  EXPECT_TRUE(at::allclose(states[0][0], h0, 1e-10, 1e-12));

  auto& layer = m.layers[0];
  const at::Tensor a = layer_norm(h0, layer->layer_norm1);
  const auto& sa = layer->self_attn;
  const at::Tensor q = at::linear(a, sa->q_proj->weight, sa->q_proj->bias);
  const at::Tensor k = at::linear(a, sa->k_proj->weight, sa->k_proj->bias);
  const at::Tensor v = at::linear(a, sa->v_proj->weight, sa->v_proj->bias);
  at::Tensor heads = at::zeros({5, 6}, kDouble);
  for (int64_t head = 0; head < 2; ++head) {
    const auto cols = Slice(head * 3, head * 3 + 3);
    const at::Tensor p = at::softmax(
        at::matmul(q.index({Slice(), cols}), k.index({Slice(), cols}).t()) / std::sqrt(3.0), 1);
    heads.index_put_({Slice(), cols}, at::matmul(p, v.index({Slice(), cols})));
  }
  const at::Tensor h = h0 + at::linear(heads, sa->out_proj->weight, sa->out_proj->bias);
  const at::Tensor f =
      at::linear(layer_norm(h, layer->layer_norm2), layer->mlp->fc1->weight, layer->mlp->fc1->bias);
  const at::Tensor expected =
      h + at::linear(f / (1 + at::exp(-1.702 * f)), layer->mlp->fc2->weight, layer->mlp->fc2->bias);
  EXPECT_TRUE(at::allclose(states[1][0], expected, 1e-10, 1e-12))
      << (states[1][0] - expected).abs().max();
}

}  // namespace
}  // namespace vlm::models
