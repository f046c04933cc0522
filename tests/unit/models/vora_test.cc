// VoRA: the vision embedding layer, aux heads, block-wise distillation and the encoder-free end.
// The reference check recomputes a whole training loss and its gradients in plain torch
// (tests/reference/vora.py), including the bi-directional image mask built there on its own.
#include "models/vora.h"

#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "models/attention_mask.h"
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
constexpr int64_t kVocab = 12;

// LLM d 16, 3 blocks (GQA 4/2 heads), teacher ViT d 8 with 2 layers, 16 px images, patch 8:
// 4 image tokens each; vision embedding d_e 8.
recipes::ModelSection tiny_vora() {
  recipes::ModelSection config;
  config.architecture = recipes::Architecture::kVora;
  config.projector.type = recipes::ProjectorType::kNone;
  config.vision_mask = recipes::VisionMask::kBidirectional;
  config.vision_embedding.hidden_size = 8;
  config.llm.hidden_size = 16;
  config.llm.intermediate_size = 24;
  config.llm.num_layers = 3;
  config.llm.num_heads = 4;
  config.llm.num_kv_heads = 2;
  config.llm.rope_theta = 100.0;
  config.llm.init_std = 0.3;
  config.vision.image_size = 16;
  config.vision.patch_size = 8;
  config.vision.hidden_size = 8;
  config.vision.intermediate_size = 16;
  config.vision.num_layers = 2;
  config.vision.num_heads = 2;
  config.vision.init_std = 0.3;
  return config;
}

// The same with an AIMv2 teacher (no class token, RMSNorm, SwiGLU): qkv bias but no other.
recipes::ModelSection tiny_vora_aimv2() {
  recipes::ModelSection config = tiny_vora();
  config.vision.type = recipes::VisionType::kAimv2;
  config.vision.drop_cls = false;
  config.vision.qkv_bias = true;
  config.vision.rms_norm_eps = 1e-4;
  return config;
}

recipes::LoraConfig lora_on_first_blocks(int64_t rank, int64_t blocks) {
  recipes::LoraConfig lora;
  lora.rank = rank;
  lora.alpha = 2.0 * static_cast<double>(rank);
  for (int64_t i = 0; i < blocks; ++i) lora.layers.push_back(i);
  return lora;
}

std::map<std::string, at::Tensor> params_of(const VisionLanguageModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, p] : model.named_parameters()) out[name] = p;
  return out;
}

// Non-zero LoRA B, and norms and biases away from their 1 / 0 starts, so that a reference that
// forgot one of them would disagree.
void perturb(VisionLanguageModel& model, uint64_t seed) {
  at::Generator gen = init::generator(seed, "test");
  c10::NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    if (name.find("lora_B") != std::string::npos) p.normal_(0.0, 0.3, gen);
    if (p.dim() == 1) p.add_(at::empty_like(p).normal_(0.0, 0.2, gen));
  }
}

// Row 0: text, image, text, image, text (14 tokens); row 1: text, image, text, then padding.
struct VoraBatch {
  ModelInputs inputs;
  at::Tensor labels;
  std::vector<int64_t> lengths;
};

VoraBatch two_row_batch(at::ScalarType dtype, int64_t image_size = 16, int64_t tokens = 4) {
  std::vector<int64_t> row0 = {3, 5}, row1 = {6};
  std::vector<int64_t> labels0 = {-100, -100}, labels1 = {-100};
  const auto add = [](std::vector<int64_t>& ids, std::vector<int64_t>& labels,
                      std::vector<int64_t> text) {
    for (const int64_t id : text) {
      ids.push_back(id);
      labels.push_back(id);
    }
  };
  const auto image = [&](std::vector<int64_t>& ids, std::vector<int64_t>& labels) {
    for (int64_t i = 0; i < tokens; ++i) {
      ids.push_back(S);
      labels.push_back(kIgnoreLabel);
    }
  };
  image(row0, labels0);
  add(row0, labels0, {7, 2});
  image(row0, labels0);
  add(row0, labels0, {9, 4});
  image(row1, labels1);
  add(row1, labels1, {8, 1, 3, 10});
  const int64_t seq = static_cast<int64_t>(row0.size());
  VoraBatch batch;
  batch.lengths = {seq, static_cast<int64_t>(row1.size())};
  while (static_cast<int64_t>(row1.size()) < seq) {
    row1.push_back(0);
    labels1.push_back(kIgnoreLabel);
  }
  std::vector<int64_t> ids = row0, labels = labels0;
  ids.insert(ids.end(), row1.begin(), row1.end());
  labels.insert(labels.end(), labels1.begin(), labels1.end());
  batch.inputs.input_ids = at::tensor(ids).view({2, seq});
  batch.labels = at::tensor(labels).view({2, seq});
  at::Generator gen = init::generator(7, "images");
  batch.inputs.images =
      at::randn({3, 3, image_size, image_size}, gen, at::TensorOptions().dtype(dtype));
  const std::vector<TokenSpan> spans = {
      {0, 2, tokens}, {0, 4 + tokens, tokens}, {1, 1, tokens}};  // each image both ways
  batch.inputs.attention_mask = build_attention_mask(2, seq, batch.lengths, spans, dtype);
  return batch;
}

at::Tensor logits_of(VisionLanguageModel& model, const ModelInputs& inputs) {
  c10::NoGradGuard no_grad;
  return model.forward(inputs).logits;
}

std::string json_list(const std::vector<int64_t>& values) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  return out.str() + "]";
}

// What the reference script needs besides the tensors.
void write_config(const std::string& path, const VisionLanguageModel& model,
                  const recipes::LoraConfig& lora, const std::vector<int64_t>& blocks) {
  const recipes::ModelSection& c = model.config();
  std::ofstream out(path);
  out.precision(17);
  out << "{\"llm_heads\": " << c.llm.num_heads << ", \"llm_kv_heads\": " << c.llm.num_kv_heads
      << ", \"llm_layers\": " << c.llm.num_layers << ", \"rope_theta\": " << c.llm.rope_theta
      << ", \"rms_norm_eps\": " << c.llm.rms_norm_eps << ", \"vit_heads\": " << c.vision.num_heads
      << ", \"vit_layers\": " << c.vision.num_layers << ", \"teacher\": \""
      << recipes::name_of(c.vision.type) << "\", \"layer_norm_eps\": " << c.vision.layer_norm_eps
      << ", \"vit_rms_norm_eps\": " << c.vision.rms_norm_eps
      << ", \"patch_size\": " << c.vision.patch_size
      << ", \"lora_scale\": " << lora.alpha / static_cast<double>(lora.rank)
      << ", \"lora_layers\": " << json_list(lora.layers) << ", \"blocks\": " << json_list(blocks)
      << ", \"image_tokens\": " << model.image_tokens_per_image() << "}\n";
}

// The model's loss and gradients for one batch, written out with the weights for vora.py.
void expect_loss_matches_reference(const recipes::ModelSection& config) {
  VisionLanguageModel model(config, kVocab, 11);
  model.module().to(at::kDouble);
  const recipes::LoraConfig lora = lora_on_first_blocks(4, 2);
  model.add_lora(lora, 12);
  recipes::DistillConfig distill;  // all_blocks: heads for blocks 1 and 2
  model.add_aux_heads(distill, 13);
  perturb(model, 14);
  model.set_trainable({"vision_embedding", "lora", "aux_heads"});
  model.train(true);

  const VoraBatch batch = two_row_batch(at::kDouble);
  const ModelOutputs outputs = model.forward(batch.inputs, /*want_block_hiddens=*/true);
  const at::Tensor logits = outputs.logits.detach();
  const int64_t seq = batch.labels.size(1);
  const at::Tensor next_labels = batch.labels.narrow(1, 1, seq - 1).reshape({-1});
  // In double throughout (models::cross_entropy_sum works in float): the bar is 1e-5 per entry.
  const at::Tensor ce_sum =
      at::nll_loss(at::log_softmax(outputs.logits.narrow(1, 0, seq - 1).reshape({-1, kVocab}), 1),
                   next_labels, {}, at::Reduction::Sum, kIgnoreLabel);
  const int64_t labelled = (next_labels != kIgnoreLabel).sum().item<int64_t>();
  const DistillationTerms terms = distillation_terms(model, outputs, batch.inputs);
  ASSERT_EQ(terms.block_sums.size(), 2u);
  EXPECT_EQ(terms.image_tokens, 12);
  at::Tensor distill_sum = at::zeros({}, at::kDouble);
  for (const auto& [block, sum] : terms.block_sums) distill_sum = distill_sum + sum;
  const double blocks = static_cast<double>(terms.block_sums.size());
  const at::Tensor ce = ce_sum / static_cast<double>(labelled);
  const at::Tensor distill_loss = distill_sum / (static_cast<double>(terms.image_tokens) * blocks);
  const at::Tensor loss = ce + distill_loss;
  loss.backward();

  NamedTensors weights, ours;
  for (const auto& [name, p] : model.named_parameters()) {
    weights.emplace_back(name, p.detach());
    if (!p.requires_grad()) continue;
    ASSERT_TRUE(p.grad().defined()) << name;
    ours.emplace_back("grad." + name, p.grad());
  }
  EXPECT_EQ(ours.size(), 5u + 2 * 7 * 2 + 2 * 2);  // embedding, LoRA factors, heads
  ours.emplace_back("loss", loss.detach());
  ours.emplace_back("ce", ce.detach());
  ours.emplace_back("distill", distill_loss.detach());
  for (const auto& [block, sum] : terms.block_sums) {
    ours.emplace_back("block_sum." + std::to_string(block), sum.detach());
  }
  ours.emplace_back("logits", logits);
  ours.emplace_back("image_embeds", outputs.image_embeds.detach());
  const NamedTensors batch_tensors = {{"input_ids", batch.inputs.input_ids},
                                      {"labels", batch.labels},
                                      {"images", batch.inputs.images},
                                      {"lengths", at::tensor(batch.lengths)},
                                      {"attention_mask", batch.inputs.attention_mask}};
  testing::TempDir dir;
  write_safetensors(dir.file("weights.safetensors"), weights);
  write_safetensors(dir.file("batch.safetensors"), batch_tensors);
  write_safetensors(dir.file("ours.safetensors"), ours);
  write_config(dir.file("config.json"), model, lora, {1, 2});

  const testing::CommandResult result =
      testing::run_python(VLM_SOURCE_DIR "/tests/reference/vora.py", {dir.path()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::cout << result.output;
}

TEST(Vora, LossAndGradientsMatchPlainTorchReference) { expect_loss_matches_reference(tiny_vora()); }

// The AIMv2 teacher's every token is a patch: the targets keep token 0 (vora.py pairs slot j
// with the teacher's token j).
TEST(Vora, LossAndGradientsMatchPlainTorchReferenceWithAimv2Teacher) {
  expect_loss_matches_reference(tiny_vora_aimv2());
}

// Slot j of image n pairs with the AIMv2 teacher's token j of image n (no class token to skip),
// and the whole step is finite, gradients included.
TEST(Vora, Aimv2TeacherDistilsEveryPatchToken) {
  VisionLanguageModel model(tiny_vora_aimv2(), kVocab, 31);
  model.add_lora(lora_on_first_blocks(4, 2), 32);
  model.add_aux_heads({}, 33);
  model.set_trainable({"vision_embedding", "lora", "aux_heads"});
  const VoraBatch batch = two_row_batch(at::kFloat);
  const ModelOutputs outputs = model.forward(batch.inputs, /*want_block_hiddens=*/true);
  const DistillationTerms terms = distillation_terms(model, outputs, batch.inputs);
  ASSERT_EQ(terms.block_sums.size(), 2u);
  EXPECT_EQ(terms.image_tokens, 12);  // 3 images x 4 patches, token 0 included

  std::vector<at::Tensor> teacher;
  {
    c10::NoGradGuard no_grad;
    teacher = model.vision_hidden_states(batch.inputs.images);
  }
  const at::Tensor slots = (batch.inputs.input_ids.reshape({-1}) == S).nonzero().reshape({-1});
  at::Tensor loss = at::zeros({});
  for (size_t k = 0; k < terms.block_sums.size(); ++k) {
    const auto& [block, sum] = terms.block_sums[k];
    const at::Tensor student =
        outputs.block_hiddens[block - 1].reshape({-1, 16}).index_select(0, slots);
    const at::Tensor target = teacher[block].reshape({-1, 8});  // [N * 4, d_vit], all tokens
    const at::Tensor expected =
        (1.0 - at::cosine_similarity(model.impl().aux_heads->head(k)(student), target, 1)).sum();
    EXPECT_NEAR(sum.item<double>(), expected.item<double>(), 1e-5) << "block " << block;
    loss = loss + sum;
  }
  loss.backward();
  int64_t trained = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    ++trained;
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(p.grad().isfinite().all().item<bool>()) << name;
  }
  EXPECT_EQ(trained, 5 + 2 * 7 * 2 + 2 * 2);

  // save_hf writes the teacher in its own layout while it is there, and not after drop_teacher.
  testing::TempDir with_teacher, encoder_free;
  model.save_hf(with_teacher.path());
  EXPECT_NE(files::read_all(with_teacher.file("vision/config.json")).find("\"aimv2\""),
            std::string::npos);
  EXPECT_NE(SafetensorsReader(with_teacher.file("vision/model.safetensors"))
                .find("trunk.blocks.1.attn.qkv.bias"),
            nullptr);
  model.merge_lora();
  model.drop_aux_heads();
  model.drop_teacher();
  model.save_hf(encoder_free.path());
  EXPECT_FALSE(files::exists(encoder_free.file("vision/config.json")));
}

TEST(Vora, MergedTeacherFreeModelGivesTheSameLogits) {
  recipes::ModelSection config = tiny_vora();
  config.llm.init_std = 0.02;
  config.vision.init_std = 0.02;
  VisionLanguageModel model(config, kVocab, 21);
  model.add_lora(lora_on_first_blocks(16, config.vision.num_layers), 22);
  model.add_aux_heads({}, 23);
  perturb(model, 24);
  model.train(false);
  const VoraBatch batch = two_row_batch(at::kFloat);
  const at::Tensor before = logits_of(model, batch.inputs);

  testing::TempDir with_lora;
  model.save_hf(with_lora.path());
  model.merge_lora();
  model.drop_aux_heads();
  model.drop_teacher();
  EXPECT_FALSE(model.has_lora());
  EXPECT_FALSE(model.has_aux_heads());
  EXPECT_FALSE(model.has_teacher());
  for (const auto& [name, p] : model.named_parameters()) {
    EXPECT_TRUE(name.rfind("vision_embedding.", 0) == 0 || name.rfind("llm.", 0) == 0) << name;
  }
  const at::Tensor after = logits_of(model, batch.inputs);
  const double scale = before.abs().max().item<double>();
  const double worst = (after - before).abs().max().item<double>();
  std::cout << "merged vs unmerged logits: max |diff| " << worst << " (logits up to " << scale
            << ")\n";
  EXPECT_LE(worst, 1e-5 * std::max(scale, 1.0));

  // The encoder-free model round-trips through save_hf / load_saved, built without a teacher.
  testing::TempDir merged;
  model.save_hf(merged.path());
  EXPECT_TRUE(std::ifstream(merged.file("vision_embedding.safetensors")).good());
  EXPECT_FALSE(std::ifstream(merged.file("vision/config.json")).good());
  VisionLanguageModel fresh(config, kVocab, 99);
  fresh.drop_teacher();
  fresh.load_saved(merged.path());
  EXPECT_TRUE(at::equal(logits_of(fresh, batch.inputs), after));
  // What was saved with live adapters loads (teacher included) to the same function.
  VisionLanguageModel from_lora(config, kVocab, 98);
  from_lora.load_saved(with_lora.path());
  EXPECT_LE((logits_of(from_lora, batch.inputs) - before).abs().max().item<double>(),
            1e-5 * std::max(scale, 1.0));
}

TEST(Vora, NamesUnitsAndTrainableGroups) {
  VisionLanguageModel model(tiny_vora(), kVocab, 1);
  EXPECT_EQ(model.image_tokens_per_image(), 4);
  EXPECT_TRUE(model.has_teacher());
  model.add_lora(lora_on_first_blocks(4, 2), 2);
  model.add_aux_heads({}, 3);
  const auto params = params_of(model);
  const std::map<std::string, std::vector<int64_t>> expected_shapes = {
      {"vision_embedding.position_embedding", {4, 8}},
      {"vision_embedding.patch_embed.weight", {8, 3, 8, 8}},
      {"vision_embedding.patch_embed.bias", {8}},
      {"vision_embedding.norm.weight", {8}},
      {"vision_embedding.proj.weight", {16, 8}},
      {"aux_heads.1.norm.weight", {16}},
      {"aux_heads.1.proj.weight", {8, 16}},
      {"aux_heads.2.norm.weight", {16}},
      {"aux_heads.2.proj.weight", {8, 16}}};
  for (const auto& [name, shape] : expected_shapes) {
    ASSERT_TRUE(params.count(name)) << name;
    EXPECT_EQ(params.at(name).sizes(), at::IntArrayRef(shape)) << name;
  }
  EXPECT_TRUE(params.count("vision.vision_model.encoder.layers.1.mlp.fc2.weight"));
  EXPECT_FALSE(params.count("llm.model.layers.2.self_attn.q_proj.lora_A.weight"));
  EXPECT_TRUE(params.count("llm.model.layers.1.mlp.down_proj.lora_B.weight"));
  for (const auto& [name, p] : params) EXPECT_EQ(name.rfind("projector.", 0), std::string::npos);

  std::vector<std::string> unit_names;
  std::set<std::string> in_units;
  for (const auto& unit : model.sharding_units()) {
    unit_names.push_back(unit.name);
    for (const auto& name : unit.param_names) EXPECT_TRUE(in_units.insert(name).second) << name;
  }
  const std::vector<std::string> expected_units = {
      "vision_embedding", "llm.embed_tokens", "llm.layers.0", "llm.layers.1",
      "llm.layers.2",     "llm.head",         "vision",       "aux_heads"};
  EXPECT_EQ(unit_names, expected_units);
  EXPECT_EQ(in_units.size(), params.size());

  model.set_trainable({"vision_embedding", "aux_heads"});
  int64_t trainable = 0;
  for (const auto& [name, p] : params) {
    const bool expected =
        name.rfind("vision_embedding.", 0) == 0 || name.rfind("aux_heads.", 0) == 0;
    EXPECT_EQ(p.requires_grad(), expected) << name;
    trainable += p.requires_grad() ? 1 : 0;
  }
  EXPECT_EQ(trainable, 9);

  model.drop_aux_heads();
  EXPECT_THROW(model.set_trainable({"aux_heads"}), ConfigError);
  model.drop_teacher();
  EXPECT_THROW(model.set_trainable({"vision"}), ConfigError);
  unit_names.clear();
  for (const auto& unit : model.sharding_units()) unit_names.push_back(unit.name);
  EXPECT_EQ(unit_names,
            std::vector<std::string>({"vision_embedding", "llm.embed_tokens", "llm.layers.0",
                                      "llm.layers.1", "llm.layers.2", "llm.head"}));
  for (const auto& [name, p] : model.named_parameters()) {
    EXPECT_NE(name.rfind("vision.", 0), 0u) << name;
    EXPECT_NE(name.rfind("aux_heads.", 0), 0u) << name;
  }
}

TEST(Vora, LastBlockModeMakesOneHead) {
  VisionLanguageModel model(tiny_vora(), kVocab, 1);
  recipes::DistillConfig distill;
  distill.mode = recipes::DistillMode::kLastBlock;
  model.add_aux_heads(distill, 3);
  std::vector<std::string> heads;
  for (const auto& [name, p] : model.named_parameters()) {
    if (name.rfind("aux_heads.", 0) == 0) heads.push_back(name);
  }
  EXPECT_EQ(heads,
            std::vector<std::string>({"aux_heads.2.norm.weight", "aux_heads.2.proj.weight"}));
  const VoraBatch batch = two_row_batch(at::kFloat);
  const ModelOutputs outputs = model.forward(batch.inputs, true);
  const DistillationTerms terms = distillation_terms(model, outputs, batch.inputs);
  ASSERT_EQ(terms.block_sums.size(), 1u);
  EXPECT_EQ(terms.block_sums[0].first, 2);
  // Each token contributes 1 - cos in [0, 2].
  const double sum = terms.block_sums[0].second.item<double>();
  EXPECT_GT(sum, 0.0);
  EXPECT_LT(sum, 2.0 * terms.image_tokens);

  EXPECT_THROW(model.add_aux_heads(distill, 3), ConfigError);
}

// distill.pairing public_code: teacher block i learns from the state entering LLM block i (the
// input embeddings for i = 1), as the public code's indexing of HF's two hidden-state tuples
// pairs them (Qwen2's [0] is the embeddings, AIMv2's [0] already block 1's output).
TEST(Vora, PublicCodePairingReadsTheStateOneBlockEarlier) {
  for (const auto mode : {recipes::DistillMode::kAllBlocks, recipes::DistillMode::kLastBlock}) {
    VisionLanguageModel model(tiny_vora_aimv2(), kVocab, 41);
    model.add_lora(lora_on_first_blocks(4, 2), 42);
    recipes::DistillConfig distill;
    distill.mode = mode;
    distill.pairing = recipes::DistillPairing::kPublicCode;
    model.add_aux_heads(distill, 43);
    model.set_trainable({"vision_embedding", "lora", "aux_heads"});
    const VoraBatch batch = two_row_batch(at::kFloat);
    const ModelOutputs outputs = model.forward(batch.inputs, /*want_block_hiddens=*/true);
    const DistillationTerms terms = distillation_terms(model, outputs, batch.inputs);
    ASSERT_EQ(terms.block_sums.size(), mode == recipes::DistillMode::kAllBlocks ? 2u : 1u)
        << recipes::name_of(mode);

    std::vector<at::Tensor> teacher;
    {
      c10::NoGradGuard no_grad;
      teacher = model.vision_hidden_states(batch.inputs.images);
    }
    const at::Tensor slots = (batch.inputs.input_ids.reshape({-1}) == S).nonzero().reshape({-1});
    for (size_t k = 0; k < terms.block_sums.size(); ++k) {
      const auto& [block, sum] = terms.block_sums[k];
      const at::Tensor state = block == 1 ? outputs.input_embeds : outputs.block_hiddens[block - 2];
      const at::Tensor student = state.reshape({-1, 16}).index_select(0, slots);
      const at::Tensor target = teacher[block].reshape({-1, 8});
      const at::Tensor expected =
          (1.0 - at::cosine_similarity(model.impl().aux_heads->head(k)(student), target, 1)).sum();
      EXPECT_NEAR(sum.item<double>(), expected.item<double>(), 1e-5)
          << recipes::name_of(mode) << " block " << block;
      // ...and not the paper's pairing.
      const at::Tensor paper_student =
          outputs.block_hiddens[block - 1].reshape({-1, 16}).index_select(0, slots);
      const at::Tensor paper =
          (1.0 - at::cosine_similarity(model.impl().aux_heads->head(k)(paper_student), target, 1))
              .sum();
      EXPECT_GT(std::abs(sum.item<double>() - paper.item<double>()), 1e-3)
          << recipes::name_of(mode);
    }
    // Head 1 reads the vision embedding's output directly: the distillation alone trains it.
    if (mode == recipes::DistillMode::kAllBlocks) {
      terms.block_sums[0].second.backward();
      const at::Tensor grad = params_of(model).at("vision_embedding.patch_embed.weight").grad();
      ASSERT_TRUE(grad.defined());
      EXPECT_GT(grad.abs().max().item<double>(), 0.0);
    }
  }
}

// model.vision_embedding.init teacher: the patch conv, its norm and the positions are the AIMv2
// teacher's preprocessor; the final linear keeps the draw random init gives it.
TEST(Vora, VisionEmbeddingCopiesTheTeachersPreprocessor) {
  recipes::ModelSection config = tiny_vora_aimv2();
  VisionLanguageModel random_init(config, kVocab, 7);
  config.vision_embedding.init = recipes::VisionEmbeddingInit::kTeacher;
  VisionLanguageModel copied(config, kVocab, 7);
  const auto p = params_of(copied), r = params_of(random_init);
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"vision_embedding.patch_embed.weight", "vision.preprocessor.patchifier.proj.weight"},
      {"vision_embedding.patch_embed.bias", "vision.preprocessor.patchifier.proj.bias"},
      {"vision_embedding.norm.weight", "vision.preprocessor.patchifier.norm.weight"},
      {"vision_embedding.position_embedding", "vision.preprocessor.pos_embed"}};
  for (const auto& [ours, teachers] : pairs) {
    EXPECT_TRUE(at::equal(p.at(ours), p.at(teachers).reshape(p.at(ours).sizes()))) << ours;
  }
  EXPECT_FALSE(at::equal(p.at("vision_embedding.patch_embed.weight"),
                         r.at("vision_embedding.patch_embed.weight")));
  EXPECT_TRUE(
      at::equal(p.at("vision_embedding.proj.weight"), r.at("vision_embedding.proj.weight")));
  EXPECT_TRUE(
      at::equal(p.at("vision.preprocessor.pos_embed"), r.at("vision.preprocessor.pos_embed")));

  // Only an AIMv2 teacher of d_e's width has a preprocessor that fits.
  recipes::ModelSection clip = tiny_vora();
  clip.vision_embedding.init = recipes::VisionEmbeddingInit::kTeacher;
  EXPECT_THROW(VisionLanguageModel(clip, kVocab, 7), ConfigError);
  recipes::ModelSection narrow = config;
  narrow.vision_embedding.hidden_size = 4;
  EXPECT_THROW(VisionLanguageModel(narrow, kVocab, 7), ConfigError);
}

// With model.vision.hf_path the values come from the folder's safetensors, each tensor's shape
// checked first; a missing or misshapen tensor is a ShapeError naming the folder and the tensor.
TEST(Vora, VisionEmbeddingFromTheTeacherFolderChecksEachTensor) {
  testing::TempDir dir;
  {
    VisionLanguageModel source(tiny_vora_aimv2(), kVocab, 11);
    perturb(source, 12);  // conv bias and norm away from their 0 / 1 starts
    source.save_hf(dir.path());
  }
  const std::string folder = dir.file("vision");
  const SafetensorsReader file(files::join(folder, "model.safetensors"));
  recipes::ModelSection config = tiny_vora_aimv2();
  config.vision.hf_path = folder;
  config.vision_embedding.init = recipes::VisionEmbeddingInit::kTeacher;
  VisionLanguageModel model(config, kVocab, 13);
  const auto p = params_of(model);
  EXPECT_TRUE(at::equal(p.at("vision_embedding.patch_embed.bias"),
                        file.read("preprocessor.patchifier.proj.bias")));
  EXPECT_TRUE(at::equal(p.at("vision_embedding.norm.weight"),
                        file.read("preprocessor.patchifier.norm.weight")));
  EXPECT_TRUE(at::equal(p.at("vision_embedding.position_embedding"),
                        file.read("preprocessor.pos_embed")[0]));

  // Read from the file, not from the live teacher: a teacher drawn from another seed does not
  // change what is copied.
  VisionLanguageModel other(tiny_vora_aimv2(), kVocab, 14);
  VisionEmbeddingImpl& embedding = *other.impl().vision_embedding;
  init_vision_embedding_from_teacher(embedding, *other.impl().vision, folder);
  EXPECT_TRUE(
      at::equal(embedding.patch_embed->weight, file.read("preprocessor.patchifier.proj.weight")));

  const auto message_of = [&](VisionEmbeddingImpl& target, const std::string& from) {
    try {
      init_vision_embedding_from_teacher(target, *other.impl().vision, from);
    } catch (const ShapeError& error) {
      return std::string(error.what());
    }
    return std::string("no ShapeError");
  };
  // A vision embedding of another width than the file's teacher.
  recipes::ModelSection wide = tiny_vora_aimv2();
  wide.vision_embedding.hidden_size = 12;
  VisionLanguageModel wider(wide, kVocab, 15);
  const std::string misshapen = message_of(*wider.impl().vision_embedding, folder);
  EXPECT_NE(misshapen.find(folder), std::string::npos) << misshapen;
  EXPECT_NE(misshapen.find("preprocessor.patchifier.proj.weight"), std::string::npos) << misshapen;
  EXPECT_NE(misshapen.find("[8, 3, 8, 8]"), std::string::npos) << misshapen;
  EXPECT_NE(misshapen.find("[12, 3, 8, 8]"), std::string::npos) << misshapen;
  // A folder whose safetensors lack the positions.
  NamedTensors without_positions;
  for (const auto& entry : file.entries()) {
    if (entry.name != "preprocessor.pos_embed") {
      without_positions.emplace_back(entry.name, file.read(entry.name));
    }
  }
  testing::TempDir partial;
  write_safetensors(partial.file("model.safetensors"), without_positions);
  const std::string missing = message_of(embedding, partial.path());
  EXPECT_NE(missing.find(partial.path()), std::string::npos) << missing;
  EXPECT_NE(missing.find("'preprocessor.pos_embed'"), std::string::npos) << missing;
}

TEST(Vora, DistillationTellsTheObserverAroundTeacherAndHeads) {
  struct Recorder : UnitObserver {
    std::vector<std::string> events;
    void before(const std::string& unit) override { events.push_back("before " + unit); }
    at::Tensor after(const std::string& unit, at::Tensor output) override {
      events.push_back("after " + unit);
      return output;
    }
  } recorder;
  VisionLanguageModel model(tiny_vora(), kVocab, 1);
  model.add_aux_heads({}, 3);
  model.set_unit_observer(&recorder);
  const VoraBatch batch = two_row_batch(at::kFloat);
  const ModelOutputs outputs = model.forward(batch.inputs, true);
  distillation_terms(model, outputs, batch.inputs);
  std::vector<std::string> befores;
  for (const auto& event : recorder.events) {
    if (event.rfind("before ", 0) == 0) befores.push_back(event.substr(7));
  }
  std::vector<std::string> units;
  for (const auto& unit : model.sharding_units()) units.push_back(unit.name);
  EXPECT_EQ(befores, units);  // every unit told once, in the units' order
  const std::vector<std::string> tail(recorder.events.end() - 4, recorder.events.end());
  EXPECT_EQ(tail, std::vector<std::string>(
                      {"before vision", "after vision", "before aux_heads", "after aux_heads"}));
}

TEST(Vora, PositionEmbeddingIsInterpolatedForOtherImageSizes) {
  VisionLanguageModel model(tiny_vora(), kVocab, 1);
  VisionEmbeddingImpl& embedding = *model.impl().vision_embedding;
  const at::Tensor table = embedding.position_embedding.detach();  // 2 x 2 grid
  const at::Tensor resized = embedding.positions_for(3, 3).detach();
  ASSERT_EQ(resized.sizes(), at::IntArrayRef({9, 8}));
  // Bilinear with half-pixel centres from 2 to 3: the corners keep the corner rows, edge middles
  // average their two corners, and the centre averages all four.
  const auto expect_near = [](const at::Tensor& a, const at::Tensor& b, const char* what) {
    EXPECT_TRUE(at::allclose(a, b, 1e-6, 1e-7)) << what << ": " << a << " vs " << b;
  };
  expect_near(resized[0], table[0], "top left");
  expect_near(resized[2], table[1], "top right");
  expect_near(resized[6], table[2], "bottom left");
  expect_near(resized[8], table[3], "bottom right");
  expect_near(resized[1], (table[0] + table[1]) / 2, "top middle");
  expect_near(resized[3], (table[0] + table[2]) / 2, "middle left");
  expect_near(resized[4], table.mean(0), "centre");

  // A 24 px image gives 9 tokens, which fill 9 slots per image.
  const VoraBatch batch = two_row_batch(at::kFloat, 24, 9);
  const ModelOutputs outputs = model.forward(batch.inputs);
  ASSERT_EQ(outputs.image_embeds.sizes(), at::IntArrayRef({3, 9, 16}));
  EXPECT_TRUE(outputs.logits.isfinite().all().item<bool>());
  // Token 4 (the centre patch) of image 0, written out: proj(norm(conv) + centre position).
  c10::NoGradGuard no_grad;
  const at::Tensor patch = batch.inputs.images[0].slice(1, 8, 16).slice(2, 8, 16);
  const at::Tensor conv = (embedding.patch_embed->weight * patch.unsqueeze(0)).sum({1, 2, 3}) +
                          embedding.patch_embed->bias;
  const at::Tensor normed = conv /
                            at::sqrt(conv.square().mean() + model.config().llm.rms_norm_eps) *
                            embedding.norm->weight;
  const at::Tensor token = at::matmul(embedding.proj->weight, normed + table.mean(0));
  EXPECT_TRUE(at::allclose(outputs.image_embeds[0][4], token, 1e-4, 1e-5));
  // A teacher only takes its own size: distillation of such images is refused.
  model.add_aux_heads({}, 3);
  const ModelOutputs with_blocks = model.forward(batch.inputs, true);
  EXPECT_THROW(distillation_terms(model, with_blocks, batch.inputs), ShapeError);
}

TEST(Vora, TextOnlyBatchesAndMisuseAreHandled) {
  VisionLanguageModel model(tiny_vora(), kVocab, 1);
  model.add_aux_heads({}, 3);
  ModelInputs text;
  text.input_ids = at::tensor(std::vector<int64_t>{1, 2, 3, 4}).view({1, 4});
  const DistillationTerms terms = distillation_terms(model, model.forward(text, true), text);
  ASSERT_EQ(terms.block_sums.size(), 2u);
  EXPECT_EQ(terms.image_tokens, 0);
  for (const auto& [block, sum] : terms.block_sums) EXPECT_EQ(sum.item<double>(), 0.0);

  const VoraBatch batch = two_row_batch(at::kFloat);
  const ModelOutputs no_blocks = model.forward(batch.inputs, false);
  EXPECT_THROW(distillation_terms(model, no_blocks, batch.inputs), ShapeError);
  EXPECT_THROW(model.drop_teacher(), ConfigError);  // the heads still need it

  recipes::ModelSection deep_teacher = tiny_vora();
  deep_teacher.vision.num_layers = 4;
  try {
    VisionLanguageModel too_deep(deep_teacher, kVocab, 1);
    ADD_FAILURE() << "a teacher deeper than the LLM was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.vision.num_layers"), std::string::npos) << e.what();
  }
  VisionLanguageModel llava(testkit::small_model(), kVocab, 1);
  EXPECT_THROW(llava.drop_teacher(), ConfigError);
  EXPECT_THROW(llava.add_aux_heads({}, 1), ConfigError);
  EXPECT_THROW(llava.set_trainable({"vision_embedding"}), ConfigError);
}

TEST(Vora, InitialisationIsAPureFunctionOfTheSeed) {
  const auto embedding_of = [](uint64_t seed) {
    VisionLanguageModel model(tiny_vora(), kVocab, seed);
    NamedTensors out;
    for (const auto& [name, p] : model.named_parameters()) {
      if (name.rfind("vision_embedding.", 0) == 0) out.emplace_back(name, p.detach().clone());
    }
    return out;
  };
  const NamedTensors a = embedding_of(5), b = embedding_of(5), c = embedding_of(6);
  ASSERT_EQ(a.size(), 5u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
    if (a[i].first != "vision_embedding.norm.weight") {
      EXPECT_FALSE(at::equal(a[i].second, c[i].second)) << a[i].first;
    }
  }
  const std::map<std::string, at::Tensor> named(a.begin(), a.end());
  const double conv_bound = 1.0 / std::sqrt(3.0 * 8 * 8);
  EXPECT_LE(named.at("vision_embedding.patch_embed.weight").abs().max().item<double>(), conv_bound);
  EXPECT_LE(named.at("vision_embedding.patch_embed.bias").abs().max().item<double>(), conv_bound);
  EXPECT_LE(named.at("vision_embedding.proj.weight").abs().max().item<double>(),
            1.0 / std::sqrt(8.0));
  EXPECT_TRUE(at::equal(named.at("vision_embedding.norm.weight"), at::ones({8})));
}

}  // namespace
}  // namespace vlm::models
