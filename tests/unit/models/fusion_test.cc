// Inverse-LLaVA (model.architecture inverse_llava): the fusion layers against an independent
// plain-torch reference (tests/reference/inverse_fusion.py), their structure (names, shapes,
// sharding unit, trainable group, LoRA placement), algebraic properties of the fusion, and the
// export round trip.
#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/files.h"
#include "models/fusion.h"
#include "models/init.h"
#include "models/model.h"
#include "models/model_impl.h"
#include "models/safetensors.h"
#include "tests/support/python_check.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

constexpr int64_t S = kImageSlot;
constexpr int64_t I = kIgnoreLabel;
constexpr int64_t kVocab = 12;
constexpr recipes::FusionMode kConcat = recipes::FusionMode::kConcat;
constexpr recipes::FusionMode kAdditive = recipes::FusionMode::kAdditive;

// The small test model (LLM d 32, 4 heads over 2 key/value heads, 2 blocks; ViT d 16, 2 layers,
// 16 px images in 8 px patches: 4 image tokens) as an Inverse-LLaVA.
recipes::ModelSection inverse_model(recipes::FusionMode mode, std::vector<int64_t> layers = {0},
                                    std::vector<int64_t> vision_layers = {-1},
                                    bool qkv_bias = false) {
  recipes::ModelSection config = testkit::small_model(qkv_bias, /*kv_heads=*/2);
  config.architecture = recipes::Architecture::kInverseLlava;
  config.projector.type = recipes::ProjectorType::kNone;
  config.fusion.mode = mode;
  config.fusion.layers = std::move(layers);
  config.fusion.vision_layers = std::move(vision_layers);
  return config;
}

std::map<std::string, at::Tensor> params_of(const VisionLanguageModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, p] : model.named_parameters()) out[name] = p;
  return out;
}

bool has_suffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Values far from any initialisation's special cases: norm weights around 1, every other tensor
// N(0, 0.25), each fusion's alphas distinct and one of them negative.
void scramble(VisionLanguageModel& model, uint64_t seed) {
  c10::NoGradGuard no_grad;
  at::Generator gen = init::generator(seed, "scramble");
  double alpha = 0.7;
  for (auto& [name, p] : model.named_parameters()) {
    if (name.find(".fusion.alpha_") != std::string::npos) {
      p.fill_(alpha);
      alpha = alpha > 0 ? -(alpha + 0.4) : -alpha + 0.3;
    } else if (p.dim() == 1 && has_suffix(name, ".weight")) {  // RMSNorm and LayerNorm weights
      p.normal_(1.0, 0.2, gen);
    } else {
      p.normal_(0.0, 0.25, gen);
    }
  }
}

// Two rows, each with one image (4 slots) and text around it; labels only on the answers.
struct Batch {
  ModelInputs inputs;
  at::Tensor labels;
};

Batch reference_batch(at::ScalarType image_dtype) {
  Batch batch;
  batch.inputs.input_ids = at::tensor(std::vector<int64_t>{1, S, S, S, S, 5, 6, 7, 8,  //
                                                           2, 3, S, S, S, S, 9, 10, 11})
                               .view({2, 9});
  batch.labels = at::tensor(std::vector<int64_t>{I, I, I, I, I, 5, 6, 7, 8,  //
                                                 I, I, I, I, I, I, 9, 10, 11})
                     .view({2, 9});
  at::Generator gen = init::generator(11, "images");
  batch.inputs.images = at::randn({2, 3, 16, 16}, gen).to(image_dtype);
  return batch;
}

// Summed next-token cross entropy over the labelled targets / their number, in the logits'
// precision (labels shifted by one, as worker/objective.cc does).
at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor targets =
      at::constant_pad_nd(labels.slice(1, 1), {0, 1}, kIgnoreLabel).reshape({-1});
  const at::Tensor log_probs = at::log_softmax(logits.reshape({-1, logits.size(-1)}), -1);
  const at::Tensor summed = at::nll_loss(log_probs, targets, {}, at::Reduction::Sum, kIgnoreLabel);
  return summed / (targets != kIgnoreLabel).sum();
}

at::Tensor one_value(double value) {
  return at::tensor(std::vector<double>{value}, at::TensorOptions().dtype(at::kDouble));
}

NamedTensors settings_of(const recipes::ModelSection& config) {
  const recipes::LlmConfig& llm = config.llm;
  const recipes::VisionConfig& vision = config.vision;
  return {
      {"llm_num_layers", one_value(llm.num_layers)},
      {"llm_num_heads", one_value(llm.num_heads)},
      {"llm_num_kv_heads", one_value(llm.num_kv_heads > 0 ? llm.num_kv_heads : llm.num_heads)},
      {"llm_rms_norm_eps", one_value(llm.rms_norm_eps)},
      {"llm_rope_theta", one_value(llm.rope_theta)},
      {"vision_num_layers", one_value(vision.num_layers)},
      {"vision_num_heads", one_value(vision.num_heads)},
      {"vision_patch_size", one_value(vision.patch_size)},
      {"vision_layer_norm_eps", one_value(vision.layer_norm_eps)},
      {"vision_drop_cls", one_value(vision.drop_cls ? 1 : 0)},
      {"fusion_concat", one_value(config.fusion.mode == recipes::FusionMode::kConcat ? 1 : 0)},
      {"fusion_vision_layers", at::tensor(config.fusion.vision_layers)},
  };
}

// Builds the model in double precision with scrambled values, trains the LLM and the fusion
// (and the vision tower when asked), and has the reference script recompute loss and gradients.
void expect_reference_agrees(const recipes::ModelSection& config, bool vision_trains) {
  VisionLanguageModel model(config, kVocab, 5);
  model.module().to(at::kDouble);
  scramble(model, 9);
  std::vector<std::string> groups = {"llm", "fusion"};
  if (vision_trains) groups.push_back("vision");
  model.set_trainable(groups);
  const Batch batch = reference_batch(at::kDouble);
  const ModelOutputs out = model.forward(batch.inputs);
  const at::Tensor loss = next_token_loss(out.logits, batch.labels);
  loss.backward();

  testing::TempDir dir;
  NamedTensors params, ours = {{"logits", out.logits.detach()}, {"loss", loss.detach().view({1})}};
  int64_t fusion_grads = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    params.emplace_back(name, p.detach());
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) {  // only HF's pooling norm, which LLaVA-style features skip
      EXPECT_NE(name.find("post_layernorm"), std::string::npos) << name << " got no gradient";
      continue;
    }
    ours.emplace_back("grad." + name, p.grad());
    if (is_fusion_parameter(name)) ++fusion_grads;
  }
  // alpha_{q,k,v}, the weights (and biases), and the vision norm's weight when there is one.
  const bool normed = config.fusion.vision_norm == recipes::FusionVisionNorm::kRms ||
                      (config.fusion.vision_norm == recipes::FusionVisionNorm::kAuto &&
                       config.fusion.mode == recipes::FusionMode::kConcat);
  EXPECT_EQ(fusion_grads,
            (config.fusion.mode == recipes::FusionMode::kConcat ? 7 : 15) + (normed ? 1 : 0));
  write_safetensors(dir.file("params.safetensors"), params);
  write_safetensors(dir.file("batch.safetensors"), {{"input_ids", batch.inputs.input_ids},
                                                    {"labels", batch.labels},
                                                    {"images", batch.inputs.images}});
  write_safetensors(dir.file("config.safetensors"), settings_of(config));
  write_safetensors(dir.file("ours.safetensors"), ours);

  const testing::CommandResult result =
      testing::run_python(VLM_SOURCE_DIR "/tests/reference/inverse_fusion.py", {dir.path()});
  std::cout << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(InverseFusion, ConcatModeMatchesPlainTorchReference) {
  expect_reference_agrees(inverse_model(kConcat, {0}, {-1}, /*qkv_bias=*/true), false);
}

TEST(InverseFusion, ConcatModeInALaterBlockMatchesPlainTorchReference) {
  expect_reference_agrees(inverse_model(kConcat, {1}), false);
}

TEST(InverseFusion, ConcatModeWithoutVisionNormMatchesPlainTorchReference) {
  recipes::ModelSection config = inverse_model(kConcat, {1});
  config.fusion.vision_norm = recipes::FusionVisionNorm::kNone;
  expect_reference_agrees(config, false);
}

TEST(InverseFusion, AdditiveModeMatchesPlainTorchReference) {
  // The fusion in the second block: its input has been through a whole block already.
  expect_reference_agrees(inverse_model(kAdditive, {1}), false);
}

TEST(InverseFusion, HdVisionFeaturesMatchPlainTorchReferenceWithTrainingTower) {
  // d_v = 2 x 16 from the penultimate and last hidden states; the tower trains, so its
  // gradients (through the vision stream) are checked as well.
  expect_reference_agrees(inverse_model(kConcat, {0}, {-2, -1}), true);
}

// ---- structure ------------------------------------------------------------------------------

std::map<std::string, std::vector<int64_t>> fusion_shapes(const VisionLanguageModel& model) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [name, p] : model.named_parameters()) {
    if (is_fusion_parameter(name)) out[name] = p.sizes().vec();
  }
  return out;
}

TEST(InverseFusion, ParametersHaveTheirNamesShapesAndUnit) {
  const std::string prefix = "llm.model.layers.0.self_attn.fusion.";
  // q_proj is 32 wide, k_proj and v_proj 16 (2 of 4 heads), d_v 16 (HD: 32).
  VisionLanguageModel concat(inverse_model(kConcat), kVocab, 1);
  const std::map<std::string, std::vector<int64_t>> concat_expected = {
      {prefix + "alpha_q", {1}},
      {prefix + "alpha_k", {1}},
      {prefix + "alpha_v", {1}},
      {prefix + "vision_norm.weight", {16}},
      {prefix + "t2v.weight", {16, 32}},
      {prefix + "q_concat.weight", {32, 32}},
      {prefix + "k_concat.weight", {16, 32}},
      {prefix + "v_concat.weight", {16, 32}}};
  EXPECT_EQ(fusion_shapes(concat), concat_expected);

  VisionLanguageModel hd(inverse_model(kConcat, {0}, {-2, -1}), kVocab, 1);
  EXPECT_EQ(fusion_shapes(hd).at(prefix + "vision_norm.weight"), (std::vector<int64_t>{32}));
  EXPECT_EQ(fusion_shapes(hd).at(prefix + "t2v.weight"), (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(fusion_shapes(hd).at(prefix + "q_concat.weight"), (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(fusion_shapes(hd).at(prefix + "k_concat.weight"), (std::vector<int64_t>{16, 64}));

  VisionLanguageModel additive(inverse_model(kAdditive, {1}), kVocab, 1);
  const std::string p1 = "llm.model.layers.1.self_attn.fusion.";
  std::map<std::string, std::vector<int64_t>> additive_expected = {
      {p1 + "alpha_q", {1}},      {p1 + "alpha_k", {1}},
      {p1 + "alpha_v", {1}},      {p1 + "q_down.weight", {32, 16}},
      {p1 + "q_down.bias", {32}}, {p1 + "q_up.weight", {32, 32}},
      {p1 + "q_up.bias", {32}},   {p1 + "k_down.weight", {32, 16}},
      {p1 + "k_down.bias", {32}}, {p1 + "k_up.weight", {16, 32}},
      {p1 + "k_up.bias", {16}},   {p1 + "v_down.weight", {32, 16}},
      {p1 + "v_down.bias", {32}}, {p1 + "v_up.weight", {16, 32}},
      {p1 + "v_up.bias", {16}}};
  EXPECT_EQ(fusion_shapes(additive), additive_expected);

  // They belong to their block's sharding unit, right after the block's attention weights.
  for (const auto& [model, block] : std::vector<std::pair<VisionLanguageModel*, std::string>>{
           {&concat, "0"}, {&additive, "1"}}) {
    const std::set<std::string> fusion_names = [&] {
      std::set<std::string> names;
      for (const auto& item : fusion_shapes(*model)) names.insert(item.first);
      return names;
    }();
    int64_t seen = 0;
    for (const ShardingUnit& unit : model->sharding_units()) {
      for (const auto& name : unit.param_names) {
        if (fusion_names.count(name) == 0) continue;
        EXPECT_EQ(unit.name, "llm.layers." + block) << name;
        ++seen;
      }
    }
    EXPECT_EQ(seen, static_cast<int64_t>(fusion_names.size()));
  }
  const std::vector<std::string> names = testkit::names_of(concat.named_parameters());
  const auto position_of = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
  };
  EXPECT_EQ(position_of(prefix + "alpha_q"),
            position_of("llm.model.layers.0.self_attn.o_proj.weight") + 1);
}

TEST(InverseFusion, InitialisationFollowsTheRecipe) {
  recipes::ModelSection config = inverse_model(kAdditive);
  config.fusion.init = recipes::FusionInit::kLlmStd;
  config.fusion.alpha_init = 0.25;
  config.llm.init_std = 0.5;
  VisionLanguageModel a(config, kVocab, 3), b(config, kVocab, 3), c(config, kVocab, 4);
  const auto pa = params_of(a), pb = params_of(b), pc = params_of(c);
  const std::string prefix = "llm.model.layers.0.self_attn.fusion.";
  for (const char* alpha : {"alpha_q", "alpha_k", "alpha_v"}) {
    EXPECT_EQ(pa.at(prefix + alpha).item<float>(), 0.25f) << alpha;
  }
  EXPECT_TRUE(at::equal(pa.at(prefix + "q_up.bias"), at::zeros({32})));
  const at::Tensor w = pa.at(prefix + "q_down.weight");
  EXPECT_NEAR(w.std().item<double>(), 0.5, 0.1);
  EXPECT_TRUE(at::equal(w, pb.at(prefix + "q_down.weight")));   // a function of the seed
  EXPECT_FALSE(at::equal(w, pc.at(prefix + "q_down.weight")));  // and of nothing else
  // The fusion draws from its own stream: the LLM's weights are those of a plain model.
  recipes::ModelSection plain = testkit::small_model(false, 2);
  plain.llm.init_std = 0.5;
  VisionLanguageModel d(plain, kVocab, 3);
  EXPECT_TRUE(at::equal(pa.at("llm.model.layers.0.self_attn.q_proj.weight"),
                        params_of(d).at("llm.model.layers.0.self_attn.q_proj.weight")));
}

// fusion.init public_code, concat: the public code's commented-out concat layer. Wide enough
// (d_h 512, d_v 128) for the sample statistics to sit within a few percent of the draws'.
TEST(InverseFusion, PublicCodeConcatInitAndVisionNormStatistics) {
  recipes::FusionConfig config;  // the defaults: concat, public_code, vision_norm auto
  const int64_t d_h = 512, d_v = 128, kv = 256;
  Fusion fusion(config, d_h, d_h, kv, d_v);
  at::Generator gen = init::generator(3, "fusion");
  fusion->initialize(config, /*llm_std=*/0.02, gen);
  ASSERT_TRUE(static_cast<bool>(fusion->vision_norm));
  EXPECT_TRUE(at::equal(fusion->vision_norm->weight, at::ones({d_v})));
  const double t2v_std = fusion->t2v->weight.std().item<double>();
  EXPECT_NEAR(t2v_std, 1.0 / std::sqrt(static_cast<double>(d_v)), 0.02 / std::sqrt(d_v * 1.0));
  EXPECT_NEAR(fusion->t2v->weight.mean().item<double>(), 0.0, 1e-3);
  for (const Linear* concat : {&fusion->q_concat, &fusion->k_concat, &fusion->v_concat}) {
    EXPECT_NEAR((*concat)->weight.std().item<double>(), 1e-4, 3e-6);
  }
  for (const at::Tensor& alpha : {fusion->alpha_q, fusion->alpha_k, fusion->alpha_v}) {
    EXPECT_EQ(alpha.item<float>(), 1.0f);
  }

  c10::NoGradGuard no_grad;
  at::Generator data = init::generator(4, "data");
  const at::Tensor hidden = at::randn({2, 6, d_h}, data);
  // Vision features far from unit scale (CLIP's last layer is in the tens), zero at text rows.
  at::Tensor vision = 30.0 * at::randn({2, 6, d_v}, data) + 5.0;
  vision.narrow(1, 0, 2).zero_();
  const at::Tensor normed = fusion->vision_norm(vision);
  const at::Tensor rms = normed.pow(2).mean(-1).sqrt();
  EXPECT_LT((rms.narrow(1, 2, 4) - 1.0).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(normed.narrow(1, 0, 2).abs().max().item<double>(), 0.0);  // text rows stay zero
  const at::Tensor expected =
      vision * at::rsqrt(vision.pow(2).mean(-1, /*keepdim=*/true) + 1e-6);  // LlamaRMSNorm
  EXPECT_LT((normed - expected).abs().max().item<double>(), 1e-5);

  // With alpha 1 the fused Q moves by about 1e-4 sqrt(2 d_v) per entry: far below q_proj(H)'s
  // unit scale, so the frozen attention starts almost undisturbed.
  const FusionDeltas deltas = fusion->forward(hidden, vision);
  const double delta_rms = deltas.q.pow(2).mean().sqrt().item<double>();
  EXPECT_LT(delta_rms, 5e-3);
  EXPECT_GT(delta_rms, 1e-4);

  // Without the norm the same init moves Q by the raw features' scale: ~30 times more here.
  recipes::FusionConfig raw = config;
  raw.vision_norm = recipes::FusionVisionNorm::kNone;
  Fusion unnormed(raw, d_h, d_h, kv, d_v);
  EXPECT_FALSE(static_cast<bool>(unnormed->vision_norm));
  at::Generator gen2 = init::generator(3, "fusion");
  unnormed->initialize(raw, 0.02, gen2);
  EXPECT_TRUE(at::equal(unnormed->t2v->weight, fusion->t2v->weight));  // same draws
  EXPECT_GT(unnormed->forward(hidden, vision).q.pow(2).mean().sqrt().item<double>(),
            10 * delta_rms);
}

// fusion.init public_code, additive: the public code's active layer, torch.nn.Linear's defaults
// (kaiming-uniform with a = sqrt(5): U(+-1/sqrt(fan_in)) weights, biases U(+-1/sqrt(fan_in))), and
// no vision norm under vision_norm auto.
TEST(InverseFusion, PublicCodeAdditiveInitIsTorchLinearDefault) {
  recipes::FusionConfig config;
  config.mode = recipes::FusionMode::kAdditive;
  const int64_t d_h = 256, d_v = 128;
  Fusion fusion(config, d_h, d_h, d_h / 2, d_v);
  EXPECT_FALSE(static_cast<bool>(fusion->vision_norm));
  at::Generator gen = init::generator(5, "fusion");
  fusion->initialize(config, /*llm_std=*/0.02, gen);
  for (const Linear* linear : {&fusion->q_down, &fusion->q_up, &fusion->k_down, &fusion->k_up,
                               &fusion->v_down, &fusion->v_up}) {
    const at::Tensor w = (*linear)->weight, b = (*linear)->bias;
    const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
    EXPECT_LE(w.abs().max().item<double>(), bound);
    EXPECT_GT(w.abs().max().item<double>(), 0.98 * bound);
    EXPECT_NEAR(w.std().item<double>(), bound / std::sqrt(3.0), 0.03 * bound);
    EXPECT_LE(b.abs().max().item<double>(), bound);
    EXPECT_GT(b.abs().max().item<double>(), 0.5 * bound);  // drawn, not zero
  }
  // vision_norm rms gives the additive branch the norm as well.
  config.vision_norm = recipes::FusionVisionNorm::kRms;
  EXPECT_TRUE(static_cast<bool>(Fusion(config, d_h, d_h, d_h / 2, d_v)->vision_norm));
}

// A fusion block other than 0 (block 1 of 2, so its input has been through block 0), concat form
// with the vision norm, against the block written out in plain libtorch from the formulas (HF's
// LlamaDecoderLayer with Eq. 3-5 added to q/k/v_proj): block 0's output is taken from the model,
// everything after it is recomputed here and compared at the logits.
TEST(InverseFusion, ConcatFusionInBlockOneMatchesPlainLibtorchFormula) {
  const recipes::ModelSection config = inverse_model(kConcat, {1}, {-1}, /*qkv_bias=*/true);
  VisionLanguageModel model(config, kVocab, 5);
  model.module().to(at::kDouble);
  scramble(model, 12);
  c10::NoGradGuard no_grad;
  const Batch batch = reference_batch(at::kDouble);
  const ModelOutputs out = model.forward(batch.inputs, /*want_block_hiddens=*/true);
  const std::map<std::string, at::Tensor> p = params_of(model);
  ASSERT_EQ(p.count("llm.model.layers.0.self_attn.fusion.alpha_q"), 0u);
  const std::string block = "llm.model.layers.1.";
  const std::string fusion = block + "self_attn.fusion.";
  const double eps = config.llm.rms_norm_eps;

  const auto rms_norm = [](const at::Tensor& x, const at::Tensor& weight, double epsilon) {
    return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + epsilon) * weight;
  };
  const auto linear = [&](const std::string& name, const at::Tensor& x) {
    at::Tensor y = at::matmul(x, p.at(name + ".weight").t());
    const auto bias = p.find(name + ".bias");
    return bias == p.end() ? y : y + bias->second;
  };

  // The vision stream: the tower's last hidden state without its class token, written into the
  // image slots row by row; zeros elsewhere.
  const int64_t rows = 2, seq = 9, d_v = 16, d_h = 32, heads = 4, kv_heads = 2, head_dim = 8;
  const at::Tensor last = model.vision_hidden_states(batch.inputs.images).back();
  const at::Tensor features = last.narrow(1, 1, last.size(1) - 1).reshape({-1, d_v});
  const at::Tensor slots = (batch.inputs.input_ids == S).reshape({-1}).nonzero().reshape({-1});
  at::Tensor vision = at::zeros({rows * seq, d_v}, features.options());
  vision.index_copy_(0, slots, features);
  vision = vision.view({rows, seq, d_v});

  const at::Tensor h_in = out.block_hiddens[0];
  const at::Tensor x = rms_norm(h_in, p.at(block + "input_layernorm.weight"), eps);
  const at::Tensor joint = at::cat({at::matmul(x, p.at(fusion + "t2v.weight").t()),
                                    rms_norm(vision, p.at(fusion + "vision_norm.weight"), 1e-6)},
                                   -1);
  const auto fused = [&](const std::string& name) {
    return linear(block + "self_attn." + name + "_proj", x) +
           p.at(fusion + "alpha_" + name) *
               at::matmul(joint, p.at(fusion + name + "_concat.weight").t());
  };
  // RoPE, rotate_half convention, positions 0..seq-1.
  const at::Tensor inv_freq =
      at::pow(config.llm.rope_theta,
              -at::arange(0, head_dim, 2, at::TensorOptions().dtype(at::kDouble)) / head_dim);
  const at::Tensor angles =
      at::outer(at::arange(seq, at::TensorOptions().dtype(at::kDouble)), inv_freq);
  const at::Tensor cos = at::cat({angles, angles}, -1).cos(),
                   sin = at::cat({angles, angles}, -1).sin();
  const auto rotate = [&](const at::Tensor& t) {  // t [B, H, T, D]
    const at::Tensor half =
        at::cat({-t.narrow(-1, head_dim / 2, head_dim / 2), t.narrow(-1, 0, head_dim / 2)}, -1);
    return t * cos + half * sin;
  };
  const auto split = [&](const at::Tensor& t, int64_t n) {
    return t.view({rows, seq, n, head_dim}).transpose(1, 2);
  };
  const at::Tensor q = rotate(split(fused("q"), heads));
  const at::Tensor k = rotate(split(fused("k"), kv_heads)).repeat_interleave(heads / kv_heads, 1);
  const at::Tensor v = split(fused("v"), kv_heads).repeat_interleave(heads / kv_heads, 1);
  const at::Tensor causal = at::ones({seq, seq}, at::TensorOptions().dtype(at::kBool)).triu(1);
  const at::Tensor scores = (at::matmul(q, k.transpose(-1, -2)) / std::sqrt(1.0 * head_dim))
                                .masked_fill(causal, -std::numeric_limits<double>::infinity());
  const at::Tensor attended =
      at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({rows, seq, d_h});
  const at::Tensor h_mid = h_in + linear(block + "self_attn.o_proj", attended);
  const at::Tensor y = rms_norm(h_mid, p.at(block + "post_attention_layernorm.weight"), eps);
  const at::Tensor h_out =
      h_mid + linear(block + "mlp.down_proj", at::silu(linear(block + "mlp.gate_proj", y)) *
                                                  linear(block + "mlp.up_proj", y));
  const at::Tensor logits =
      linear("llm.lm_head", rms_norm(h_out, p.at("llm.model.norm.weight"), eps));

  EXPECT_LT((out.block_hiddens[1] - h_out).abs().max().item<double>(), 1e-10);
  EXPECT_LT((out.logits - logits).abs().max().item<double>(), 1e-10);
  // The fusion is not a bystander: without it block 1 computes something else.
  const at::Tensor plain_q = linear(block + "self_attn.q_proj", x);
  EXPECT_GT((fused("q") - plain_q).abs().max().item<double>(), 1e-2);
}

TEST(InverseFusion, BadFusionSettingsAreConfigErrors) {
  EXPECT_THROW(VisionLanguageModel(inverse_model(kConcat, {2}), kVocab, 1), ConfigError);
  EXPECT_THROW(VisionLanguageModel(inverse_model(kConcat, {0, 0}), kVocab, 1), ConfigError);
  EXPECT_THROW(VisionLanguageModel(inverse_model(kConcat, {0}, {3}), kVocab, 1), ConfigError);
  recipes::ModelSection with_projector = inverse_model(kConcat);
  with_projector.projector.type = recipes::ProjectorType::kLinear;
  EXPECT_THROW(VisionLanguageModel(with_projector, kVocab, 1), ConfigError);
}

TEST(InverseFusion, FusionGroupSelectsExactlyTheFusionParameters) {
  VisionLanguageModel model(inverse_model(kConcat, {0, 1}), kVocab, 1);
  model.set_trainable({"fusion"});
  int64_t trains = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    EXPECT_EQ(p.requires_grad(), is_fusion_parameter(name)) << name;
    trains += p.requires_grad();
  }
  EXPECT_EQ(trains, 16);  // per block 3 alphas, the vision norm, t2v and 3 concat weights
  model.set_trainable({"llm"});
  for (const auto& [name, p] : model.named_parameters()) {
    const bool llm = name.rfind("llm.", 0) == 0;
    EXPECT_EQ(p.requires_grad(), llm && !is_fusion_parameter(name)) << name;
  }
  VisionLanguageModel llava(testkit::small_model(), kVocab, 1);
  EXPECT_THROW(llava.set_trainable({"fusion"}), ConfigError);  // selects nothing there
}

TEST(InverseFusion, LoraLandsOnEveryBlockButTheFusionBlocks) {
  recipes::ModelSection config = inverse_model(kConcat, {1});
  config.llm.num_layers = 3;
  VisionLanguageModel model(config, kVocab, 1);
  recipes::LoraConfig lora;
  lora.rank = 4;
  model.add_lora(lora, 2);
  std::map<std::string, int64_t> adapters_per_block;
  for (const auto& [name, p] : model.named_parameters()) {
    if (name.find(".lora_A.") == std::string::npos) continue;
    EXPECT_FALSE(is_fusion_parameter(name)) << name;
    const std::string prefix = "llm.model.layers.";
    ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
    ++adapters_per_block[name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size())];
  }
  EXPECT_EQ(adapters_per_block, (std::map<std::string, int64_t>{{"0", 7}, {"2", 7}}));
}

// ---- properties of the fusion ---------------------------------------------------------------

ModelInputs text_only(const std::vector<int64_t>& ids) {
  ModelInputs inputs;
  inputs.input_ids = at::tensor(ids).view({1, static_cast<int64_t>(ids.size())});
  return inputs;
}

// Without images the vision half of cat[t2v(H), V] is zero, so concat mode is the plain LLM with
// W_Q replaced by W_Q + alpha_Q W_concat^Q[:, :d_v] W_t2v (and so for K and V): the only path a
// text token takes through the fusion is t2v.
TEST(InverseFusion, WithoutImagesConcatModeIsALowRankUpdateThroughT2v) {
  VisionLanguageModel model(inverse_model(kConcat, {0}, {-1}, /*qkv_bias=*/true), kVocab, 1);
  model.module().to(at::kDouble);
  scramble(model, 2);
  c10::NoGradGuard no_grad;
  const ModelInputs inputs = text_only({1, 2, 3, 4, 5, 6});
  const at::Tensor fused = model.forward(inputs).logits;

  auto& attention = *model.impl().llm->model->layers[0]->self_attn;
  auto& fusion = *attention.fusion;
  const int64_t d_v = fusion.vision_width();
  const at::Tensor t2v = fusion.t2v->weight;
  std::vector<at::Tensor> alphas;
  for (const at::Tensor& alpha : {fusion.alpha_q, fusion.alpha_k, fusion.alpha_v}) {
    alphas.push_back(alpha.clone());
    alpha.zero_();
  }
  const at::Tensor unfused = model.forward(inputs).logits;
  EXPECT_GT((fused - unfused).abs().max().item<double>(), 1e-3);  // t2v is a real path

  const std::vector<std::pair<Linear*, Linear*>> pairs = {{&attention.q_proj, &fusion.q_concat},
                                                          {&attention.k_proj, &fusion.k_concat},
                                                          {&attention.v_proj, &fusion.v_concat}};
  for (size_t i = 0; i < pairs.size(); ++i) {
    const at::Tensor text_half = (*pairs[i].second)->weight.narrow(1, 0, d_v);
    (*pairs[i].first)->weight.add_(alphas[i] * at::matmul(text_half, t2v));
  }
  EXPECT_LT((fused - model.forward(inputs).logits).abs().max().item<double>(), 1e-12);
}

// In additive mode the text tokens see the fusion only through its biases (V = 0 there): with
// zero biases a text-only batch computes exactly what the plain LLM does (alphas at zero).
TEST(InverseFusion, WithoutImagesAdditiveModeAddsOnlyItsBiases) {
  VisionLanguageModel model(inverse_model(kAdditive), kVocab, 1);
  model.module().to(at::kDouble);
  scramble(model, 3);
  c10::NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    if (is_fusion_parameter(name) && has_suffix(name, ".bias")) p.zero_();
  }
  const ModelInputs inputs = text_only({1, 2, 3, 4, 5, 6});
  const at::Tensor fused = model.forward(inputs).logits;
  auto& fusion = *model.impl().llm->model->layers[0]->self_attn->fusion;
  for (const at::Tensor& alpha : {fusion.alpha_q, fusion.alpha_k, fusion.alpha_v}) alpha.zero_();
  EXPECT_TRUE(at::equal(fused, model.forward(inputs).logits));
}

// Rows do not see each other, and a text-only batch (no vision stream at all) computes what the
// same row does beside image rows (a vision stream with zeros in that row).
TEST(InverseFusion, MixedBatchRowsMatchTheirSingleRowRuns) {
  for (const auto mode : {kConcat, kAdditive}) {
    VisionLanguageModel model(inverse_model(mode), kVocab, 1);
    model.module().to(at::kDouble);
    scramble(model, 4);
    c10::NoGradGuard no_grad;
    const std::vector<int64_t> text = {1, 2, 3, 4, 5, 6, 7, 8};
    const std::vector<int64_t> image = {2, S, S, S, S, 9, 10, 11};
    std::vector<int64_t> ids = text;
    ids.insert(ids.end(), image.begin(), image.end());
    ModelInputs mixed;
    mixed.input_ids = at::tensor(ids).view({2, 8});
    at::Generator gen = init::generator(6, "images");
    mixed.images = at::randn({1, 3, 16, 16}, gen, at::TensorOptions().dtype(at::kDouble));
    const ModelOutputs both = model.forward(mixed);
    ASSERT_EQ(both.image_embeds.sizes(), at::IntArrayRef({1, 4, 16})) << recipes::name_of(mode);
    EXPECT_TRUE(at::equal(both.input_embeds[1].narrow(0, 1, 4), at::zeros({4, 32}, at::kDouble)));

    const at::Tensor alone_text = model.forward(text_only(text)).logits;
    EXPECT_LT((both.logits[0] - alone_text[0]).abs().max().item<double>(), 1e-12)
        << recipes::name_of(mode);
    ModelInputs single = text_only(image);
    single.images = mixed.images;
    const at::Tensor alone_image = model.forward(single).logits;
    EXPECT_LT((both.logits[1] - alone_image[0]).abs().max().item<double>(), 1e-12)
        << recipes::name_of(mode);
    // The image matters, and only from its first slot on (causal attention).
    single.images = mixed.images * 2.0;
    const at::Tensor other_image = model.forward(single).logits;
    EXPECT_LT((other_image[0][0] - alone_image[0][0]).abs().max().item<double>(), 1e-12)
        << recipes::name_of(mode);
    EXPECT_GT((other_image[0][1] - alone_image[0][1]).abs().max().item<double>(), 1e-6)
        << recipes::name_of(mode);
  }
}

// Activation recomputation passes the vision stream to the recomputed fusion block, and lets its
// gradient through to a training tower.
class RecomputeEverything : public UnitObserver {
 public:
  void before(const std::string&) override {}
  at::Tensor after(const std::string&, at::Tensor output) override { return output; }
  bool recompute(const std::string&) const override { return true; }
};

TEST(InverseFusion, RecomputationGivesTheSameGradients) {
  VisionLanguageModel model(inverse_model(kConcat, {0, 1}, {-2, -1}), kVocab, 1);
  model.module().to(at::kDouble);
  scramble(model, 5);
  model.set_trainable({"fusion", "vision", "llm"});
  const Batch batch = reference_batch(at::kDouble);
  const auto gradients = [&] {
    for (auto& [name, p] : model.named_parameters()) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    next_token_loss(model.forward(batch.inputs).logits, batch.labels).backward();
    std::map<std::string, at::Tensor> out;
    for (auto& [name, p] : model.named_parameters()) {
      if (p.requires_grad() && p.grad().defined()) out[name] = p.grad().clone();
    }
    return out;
  };
  const auto plain = gradients();
  RecomputeEverything observer;
  model.set_unit_observer(&observer);
  const auto recomputed = gradients();
  model.set_unit_observer(nullptr);
  ASSERT_EQ(plain.size(), recomputed.size());
  for (const auto& [name, grad] : plain) {
    EXPECT_LT((grad - recomputed.at(name)).abs().max().item<double>(), 1e-12) << name;
    EXPECT_GT(grad.abs().max().item<double>(), 0.0) << name;
  }
}

// ---- export ---------------------------------------------------------------------------------

TEST(InverseFusion, SaveAndLoadSavedReproduceTheLogits) {
  testing::TempDir dir;
  const recipes::ModelSection config = inverse_model(kConcat, {0}, {-2, -1});
  VisionLanguageModel a(config, kVocab, 1);
  scramble(a, 6);
  recipes::LoraConfig lora;
  lora.rank = 4;
  a.add_lora(lora, 2);  // on block 1 only; merged into the saved weights
  {
    c10::NoGradGuard no_grad;
    at::Generator gen = init::generator(7, "lora_b");
    for (auto& [name, p] : a.named_parameters()) {
      if (name.find("lora_B") != std::string::npos) p.normal_(0.0, 0.1, gen);
    }
  }
  a.save_hf(dir.path());
  const SafetensorsReader saved(dir.file("llm/model.safetensors"));
  EXPECT_NE(saved.find("model.layers.0.self_attn.fusion.t2v.weight"), nullptr);
  EXPECT_NE(saved.find("model.layers.0.self_attn.fusion.alpha_v"), nullptr);

  const Batch batch = reference_batch(at::kFloat);
  const auto logits_of = [&](VisionLanguageModel& model) {
    c10::NoGradGuard no_grad;
    return model.forward(batch.inputs).logits;
  };
  VisionLanguageModel b(config, kVocab, 2);
  ASSERT_GT((logits_of(a) - logits_of(b)).abs().max().item<float>(), 1e-3);
  b.load_saved(dir.path());
  EXPECT_LT((logits_of(a) - logits_of(b)).abs().max().item<float>(), 1e-5);
  const auto pa = params_of(a), pb = params_of(b);
  for (const auto& [name, p] : pb) {
    if (is_fusion_parameter(name)) {
      EXPECT_TRUE(at::equal(p, pa.at(name))) << name;
    }
  }

  // load_hf reads a base LLM (here: the saved one) and leaves the fusion as it is.
  VisionLanguageModel c(config, kVocab, 3);
  const at::Tensor t2v_before = params_of(c).at("llm.model.layers.0.self_attn.fusion.t2v.weight");
  const at::Tensor kept = t2v_before.clone();
  c.load_hf("llm", dir.file("llm"));
  EXPECT_TRUE(at::equal(t2v_before, kept));

  // load_saved insists on the fusion weights.
  NamedTensors without_fusion;
  for (const auto& entry : saved.entries()) {
    if (!is_fusion_parameter(entry.name)) {
      without_fusion.emplace_back(entry.name, saved.read(entry.name));
    }
  }
  write_safetensors(dir.file("llm/model.safetensors"), without_fusion);
  EXPECT_THROW(c.load_saved(dir.path()), ShapeError);
}

}  // namespace
}  // namespace vlm::models
