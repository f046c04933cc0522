// Loading valid recipes: stage inheritance, presets, the shipped recipe files and dump()'s round
// trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "recipes/load.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::config_error;
using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe;
using testing::load_recipe_text;
using testing::repo_path;

const std::vector<std::string> kProjectorAndLlm = {"projector", "llm"};

TEST(StageInheritance, StagesInheritTheTopLevelSections) {
  const Recipe recipe = load_recipe_text(kTwoStage, kSource);
  ASSERT_EQ(recipe.stages.size(), 2u);
  const Stage& pretrain = recipe.stages[0];
  const Stage& finetune = recipe.stages[1];
  EXPECT_EQ(pretrain.name, "pretrain");
  EXPECT_EQ(finetune.name, "finetune");
  for (const Stage& stage : recipe.stages) {
    EXPECT_EQ(stage.data.corpus_dir, "corpus/tiny");
    EXPECT_EQ(stage.data.json, "captions.json");
    EXPECT_DOUBLE_EQ(stage.optimizer.weight_decay, 0.1);
  }
  EXPECT_DOUBLE_EQ(pretrain.optimizer.lr, 1e-3);
  EXPECT_EQ(pretrain.data.chat_template, recipes::Template::kPlain);
  EXPECT_EQ(pretrain.training.max_steps, 0);
  EXPECT_EQ(pretrain.trainable, std::vector<std::string>{"projector"});
}

TEST(StageInheritance, TheStageWinsKeyByKey) {
  const Stage finetune = load_recipe_text(kTwoStage, kSource).stages[1];
  EXPECT_DOUBLE_EQ(finetune.optimizer.lr, 2e-5);           // the stage's own
  EXPECT_DOUBLE_EQ(finetune.optimizer.weight_decay, 0.1);  // the same section's other keys
  EXPECT_EQ(finetune.data.chat_template, recipes::Template::kVicunaV1);  // the stage's own
  EXPECT_EQ(finetune.data.json, "captions.json");                        // inherited beside it
  EXPECT_EQ(finetune.training.max_steps, 7);
  EXPECT_EQ(finetune.trainable, kProjectorAndLlm);
}

TEST(StageInheritance, WithoutStagesTheTopLevelIsOneStageNamedTrain) {
  const std::string text =
      "data: {json: a.json, template: vicuna_v1}\n"
      "optimizer: {lr: 3.0e-4}\n"
      "trainable: [projector, llm]\n";
  const Recipe recipe = load_recipe_text(text, kSource);
  ASSERT_EQ(recipe.stages.size(), 1u);
  EXPECT_EQ(recipe.stages[0].name, "train");
  EXPECT_EQ(recipe.stages[0].objective, &worker::kLlavaObjective);
  EXPECT_EQ(recipe.stages[0].data.json, "a.json");
  EXPECT_EQ(recipe.stages[0].data.chat_template, recipes::Template::kVicunaV1);
  EXPECT_DOUBLE_EQ(recipe.stages[0].optimizer.lr, 3e-4);
  EXPECT_EQ(recipe.stages[0].trainable, kProjectorAndLlm);
  EXPECT_EQ(recipe.run_dir, "runs/default");
}

TEST(StageInheritance, ListsAreReplacedNotMerged) {
  const std::string text =
      "data: {json: a.json}\n"
      "trainable: [projector, llm]\n"
      "lora: {rank: 8, targets: [q_proj, v_proj]}\n"
      "stages:\n"
      "  - {name: one}\n"
      "  - {name: two, trainable: [lora], lora: {targets: [o_proj]}}\n";
  const Recipe recipe = load_recipe_text(text, kSource);
  EXPECT_EQ(recipe.stages[0].trainable, kProjectorAndLlm);
  EXPECT_EQ(recipe.stages[0].lora.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(recipe.stages[1].trainable, std::vector<std::string>{"lora"});
  EXPECT_EQ(recipe.stages[1].lora.targets, std::vector<std::string>{"o_proj"});
  EXPECT_EQ(recipe.stages[1].lora.rank, 8);
}

TEST(StageInheritance, EmptySectionsChangeNothing) {
  const std::string text =
      "data: {json: a.json}\n"
      "optimizer:\n"
      "stages:\n"
      "  - name: only\n"
      "    optimizer:\n";
  const Recipe recipe = load_recipe_text(text, kSource);
  EXPECT_DOUBLE_EQ(recipe.stages[0].optimizer.lr, OptimizerSection{}.lr);
}

TEST(StageInheritance, EveryRecipeHasTheCommonKeys) {
  const Recipe recipe = load_recipe_text("data: {json: a.json}\n", kSource);
  EXPECT_EQ(recipe.run_dir, "runs/default");
  EXPECT_EQ(recipe.sharding.stage, 0);
  EXPECT_EQ(recipe.stages.at(0).training.seed, 42u);
  EXPECT_EQ(recipe.stages.at(0).training.max_steps, 0);
}

void expect_tiny(const ModelSection& model) {
  EXPECT_EQ(model.preset, "tiny");
  EXPECT_EQ(model.llm.family, recipes::LlmFamily::kLlama);
  EXPECT_EQ(model.llm.vocab_size, 0);
  EXPECT_EQ(model.llm.hidden_size, 128);
  EXPECT_EQ(model.llm.intermediate_size, 344);
  EXPECT_EQ(model.llm.num_layers, 4);
  EXPECT_EQ(model.llm.num_heads, 4);
  EXPECT_EQ(model.llm.num_kv_heads, 0);
  EXPECT_DOUBLE_EQ(model.llm.rope_theta, 1e4);
  EXPECT_DOUBLE_EQ(model.llm.rms_norm_eps, 1e-5);
  EXPECT_EQ(model.llm.max_position, 512);
  EXPECT_EQ(model.vision.type, recipes::VisionType::kClip);
  EXPECT_EQ(model.vision.image_size, 32);
  EXPECT_EQ(model.vision.patch_size, 8);
  EXPECT_EQ(model.vision.hidden_size, 64);
  EXPECT_EQ(model.vision.intermediate_size, 256);
  EXPECT_EQ(model.vision.num_layers, 2);
  EXPECT_EQ(model.vision.num_heads, 4);
  EXPECT_EQ(model.vision.feature_layer, -2);
  EXPECT_TRUE(model.vision.drop_cls);
  EXPECT_EQ(model.vision.position_init, recipes::PositionInit::kSincos);
  EXPECT_EQ(model.projector.type, recipes::ProjectorType::kMlp2xGelu);
}

TEST(Presets, Tiny) { expect_tiny(preset("tiny")); }

TEST(Presets, Vicuna7bClipVitL336) {
  const ModelSection model = preset("vicuna-7b+clip-vit-l-336");
  EXPECT_EQ(model.preset, "vicuna-7b+clip-vit-l-336");
  EXPECT_EQ(model.llm.family, recipes::LlmFamily::kLlama);
  EXPECT_EQ(model.llm.vocab_size, 32000);
  EXPECT_EQ(model.llm.hidden_size, 4096);
  EXPECT_EQ(model.llm.intermediate_size, 11008);
  EXPECT_EQ(model.llm.num_layers, 32);
  EXPECT_EQ(model.llm.num_heads, 32);
  EXPECT_EQ(model.llm.num_kv_heads, 32);
  EXPECT_DOUBLE_EQ(model.llm.rope_theta, 1e4);
  EXPECT_DOUBLE_EQ(model.llm.rms_norm_eps, 1e-5);
  EXPECT_EQ(model.llm.max_position, 4096);
  EXPECT_FALSE(model.llm.qkv_bias);
  EXPECT_EQ(model.vision.type, recipes::VisionType::kClip);
  EXPECT_EQ(model.vision.image_size, 336);
  EXPECT_EQ(model.vision.patch_size, 14);
  EXPECT_EQ(model.vision.hidden_size, 1024);
  EXPECT_EQ(model.vision.intermediate_size, 4096);
  EXPECT_EQ(model.vision.num_layers, 24);
  EXPECT_EQ(model.vision.num_heads, 16);
  EXPECT_EQ(model.vision.feature_layer, -2);
  EXPECT_TRUE(model.vision.drop_cls);
  EXPECT_EQ(model.projector.type, recipes::ProjectorType::kMlp2xGelu);
}

TEST(Presets, Qwen25_7bAimv2Huge448) {
  const ModelSection model = preset("qwen2.5-7b+aimv2-huge-448");
  EXPECT_EQ(model.llm.family, recipes::LlmFamily::kQwen2);
  EXPECT_EQ(model.llm.vocab_size, 152064);
  EXPECT_EQ(model.llm.hidden_size, 3584);
  EXPECT_EQ(model.llm.intermediate_size, 18944);
  EXPECT_EQ(model.llm.num_layers, 28);
  EXPECT_EQ(model.llm.num_heads, 28);
  EXPECT_EQ(model.llm.num_kv_heads, 4);
  EXPECT_DOUBLE_EQ(model.llm.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(model.llm.rms_norm_eps, 1e-6);
  EXPECT_TRUE(model.llm.qkv_bias);
  EXPECT_EQ(model.llm.max_position, 32768);
  EXPECT_FALSE(model.llm.tie_word_embeddings);
  EXPECT_EQ(model.vision.type, recipes::VisionType::kAimv2);
  EXPECT_EQ(model.vision.image_size, 448);
  EXPECT_EQ(model.vision.patch_size, 14);
  EXPECT_EQ(model.vision.hidden_size, 1536);
  EXPECT_EQ(model.vision.intermediate_size, 4096);
  EXPECT_EQ(model.vision.num_layers, 24);
  EXPECT_EQ(model.vision.num_heads, 12);
  EXPECT_EQ(model.vision.feature_layer, -1);
  EXPECT_FALSE(model.vision.drop_cls);
}

TEST(Presets, UnknownPresetListsTheKnownOnes) {
  EXPECT_EQ(config_error([] { preset("llama-70b"); }),
            "unknown model preset 'llama-70b' (known: tiny, vicuna-7b+clip-vit-l-336, "
            "qwen2.5-7b+aimv2-huge-448)");
}

TEST(Presets, EveryPresetPassesValidation) {
  for (const std::string name : {"tiny", "vicuna-7b+clip-vit-l-336", "qwen2.5-7b+aimv2-huge-448"}) {
    SCOPED_TRACE(name);
    const std::string text =
        "model: {preset: " + name + "}\ndata: {json: a.json, max_seq_len: 256}\n";
    const Recipe recipe = load_recipe_text(text, kSource);
    const ModelSection expected = preset(name);
    EXPECT_EQ(recipe.model.preset, name);
    EXPECT_EQ(recipe.model.llm.hidden_size, expected.llm.hidden_size);
    EXPECT_EQ(recipe.model.vision.type, expected.vision.type);
  }
}

TEST(Presets, NoPresetKeyMeansTiny) {
  expect_tiny(load_recipe_text("data: {json: a.json}\n", kSource).model);
}

TEST(Presets, KeysBesideThePresetOverrideIt) {
  const std::string text =
      "model:\n"
      "  llm: {num_layers: 2}\n"  // before the preset key: order does not matter
      "  preset: vicuna-7b+clip-vit-l-336\n"
      "  vision: {image_size: 224}\n"
      "data: {json: a.json}\n";
  const Recipe recipe = load_recipe_text(text, kSource);
  EXPECT_EQ(recipe.model.llm.num_layers, 2);
  EXPECT_EQ(recipe.model.llm.hidden_size, 4096);
  EXPECT_EQ(recipe.model.vision.image_size, 224);
  EXPECT_EQ(recipe.model.vision.patch_size, 14);
}

TEST(ShippedRecipes, TinyTwoStage) {
  const std::string path = repo_path("recipes/tiny/llava_two_stage.yaml");
  const Recipe recipe = load_recipe(path);
  EXPECT_EQ(recipe.source_path, path);
  EXPECT_EQ(recipe.run_dir, "runs/tiny_llava_two_stage");
  expect_tiny(recipe.model);
  EXPECT_EQ(recipe.eval.questions, "eval/questions.json");
  ASSERT_EQ(recipe.stages.size(), 2u);
  for (const Stage& stage : recipe.stages) {
    EXPECT_EQ(stage.data.corpus_dir, "corpus/tiny");
    EXPECT_EQ(stage.data.tokenizer, "tokenizer.model");
    EXPECT_EQ(stage.data.max_seq_len, 256);
    EXPECT_DOUBLE_EQ(stage.optimizer.lr, 1e-3);
    EXPECT_DOUBLE_EQ(stage.optimizer.weight_decay, 0.0);
    EXPECT_EQ(stage.schedule.type, recipes::ScheduleKind::kCosine);
    EXPECT_DOUBLE_EQ(stage.schedule.warmup_ratio, 0.03);
  }
  const Stage& pretrain = recipe.stages[0];
  EXPECT_EQ(pretrain.name, "pretrain");
  EXPECT_EQ(pretrain.data.chat_template, recipes::Template::kPlain);
  EXPECT_EQ(pretrain.data.shards, "shards/captions");
  EXPECT_EQ(pretrain.data.json, "");
  EXPECT_EQ(pretrain.trainable, std::vector<std::string>{"projector"});
  EXPECT_DOUBLE_EQ(pretrain.training.epochs, 1.0);
  EXPECT_EQ(pretrain.training.global_batch_size, 64);
  const Stage& finetune = recipe.stages[1];
  EXPECT_EQ(finetune.name, "finetune");
  EXPECT_EQ(finetune.data.chat_template, recipes::Template::kVicunaV1);
  EXPECT_EQ(finetune.data.shards, "shards/mix");
  EXPECT_EQ(finetune.data.json, "");
  EXPECT_EQ(finetune.data.image_aspect, ImageAspect::kPad);
  EXPECT_EQ(finetune.data.sampler, SamplerKind::kModalityLength);
  EXPECT_EQ(finetune.trainable, kProjectorAndLlm);
  EXPECT_DOUBLE_EQ(finetune.training.epochs, 2.0);
  EXPECT_EQ(finetune.training.global_batch_size, 32);
}

TEST(ShippedRecipes, PublishedLlavaTwoStage) {
  const Recipe recipe = load_recipe(repo_path("recipes/llava_two_stage.yaml"));
  EXPECT_EQ(recipe.model.preset, "vicuna-7b+clip-vit-l-336");
  EXPECT_EQ(recipe.model.llm.hidden_size, 4096);
  ASSERT_EQ(recipe.stages.size(), 2u);
  const Stage& pretrain = recipe.stages[0];
  const Stage& finetune = recipe.stages[1];
  EXPECT_DOUBLE_EQ(pretrain.optimizer.lr, 1e-3);
  EXPECT_EQ(pretrain.training.global_batch_size, 256);
  EXPECT_EQ(pretrain.training.micro_batch_size, 16);  // 32 per device with FlashAttention
  EXPECT_EQ(pretrain.data.chat_template, recipes::Template::kPlain);
  EXPECT_EQ(pretrain.data.image_aspect, ImageAspect::kSquare);  // LLaVA's stage 1: the crop
  EXPECT_EQ(finetune.data.pad_colour, PadColour::kImageMean);
  EXPECT_DOUBLE_EQ(finetune.optimizer.lr, 2e-5);
  EXPECT_EQ(finetune.training.global_batch_size, 128);
  EXPECT_EQ(finetune.training.micro_batch_size, 16);
  EXPECT_EQ(finetune.data.chat_template, recipes::Template::kVicunaV1);
  EXPECT_EQ(finetune.data.image_aspect, ImageAspect::kPad);
  EXPECT_EQ(finetune.data.sampler, SamplerKind::kModalityLength);
  for (const Stage& stage : recipe.stages) {
    EXPECT_EQ(stage.data.max_seq_len, 2048);
    EXPECT_DOUBLE_EQ(stage.schedule.warmup_ratio, 0.03);
    EXPECT_EQ(stage.schedule.type, recipes::ScheduleKind::kCosine);
    EXPECT_DOUBLE_EQ(stage.optimizer.weight_decay, 0.0);
    EXPECT_DOUBLE_EQ(stage.optimizer.grad_clip, 1.0);
    EXPECT_DOUBLE_EQ(stage.training.epochs, 1.0);
  }
}

TEST(ShippedRecipes, PublishedLoraVariant) {
  const Recipe recipe = load_recipe(repo_path("recipes/llava_two_stage_lora.yaml"));
  const Stage& finetune = recipe.stages.at(1);
  EXPECT_EQ(finetune.trainable, (std::vector<std::string>{"projector", "lora"}));
  EXPECT_EQ(finetune.lora.rank, 128);
  EXPECT_DOUBLE_EQ(finetune.lora.alpha, 256);
  EXPECT_DOUBLE_EQ(finetune.lora.dropout, 0.05);
  EXPECT_DOUBLE_EQ(finetune.optimizer.lr, 2e-4);
  EXPECT_DOUBLE_EQ(finetune.optimizer.projector_lr, 2e-5);
  EXPECT_EQ(recipe.stages.at(0).lora.rank, 0);
}

TEST(ShippedRecipes, PublishedVdep) {
  const Recipe recipe = load_recipe(repo_path("recipes/vdep.yaml"));
  const Stage& pretrain = recipe.stages.at(0);
  EXPECT_EQ(pretrain.objective, &worker::kVdepObjective);
  EXPECT_EQ(pretrain.trainable, (std::vector<std::string>{"projector", "added_tokens"}));
  EXPECT_DOUBLE_EQ(pretrain.vdep.ratio, 1.0);
  EXPECT_DOUBLE_EQ(pretrain.vdep.alpha, 0.001);
  EXPECT_EQ(pretrain.vdep.shift, 1);
  EXPECT_TRUE(pretrain.vdep.detach_target);
  EXPECT_EQ(pretrain.vdep.loss, VdepLoss::kL2);
  EXPECT_EQ(pretrain.vdep.split, VdepSplit::kExact);
  EXPECT_FALSE(pretrain.vdep.text_loss_on_vdep_rows);
  EXPECT_EQ(recipe.stages.at(1).objective, &worker::kLlavaObjective);
}

TEST(ShippedRecipes, PublishedInverseLlavaAndItsHdVariant) {
  const Recipe recipe = load_recipe(repo_path("recipes/inverse_llava.yaml"));
  EXPECT_EQ(recipe.model.architecture, Architecture::kInverseLlava);
  EXPECT_EQ(recipe.model.projector.type, recipes::ProjectorType::kNone);
  EXPECT_EQ(recipe.model.fusion.layers, std::vector<int64_t>{0});
  EXPECT_EQ(recipe.model.fusion.mode, recipes::FusionMode::kConcat);
  EXPECT_EQ(recipe.model.fusion.init, FusionInit::kPublicCode);
  EXPECT_EQ(recipe.model.fusion.vision_norm, FusionVisionNorm::kAuto);
  const Stage& stage = recipe.stages.at(0);
  EXPECT_EQ(stage.lora.rank, 128);
  EXPECT_DOUBLE_EQ(stage.lora.alpha, 256);
  EXPECT_DOUBLE_EQ(stage.optimizer.lr, 2e-4);
  EXPECT_EQ(stage.training.global_batch_size, 256);
  const Recipe hd = load_recipe(repo_path("recipes/inverse_llava_hd.yaml"));
  EXPECT_EQ(hd.model.fusion.vision_layers, (std::vector<int64_t>{-2, -1}));
}

TEST(ShippedRecipes, PublishedVora) {
  const Recipe recipe = load_recipe(repo_path("recipes/vora.yaml"));
  EXPECT_EQ(recipe.model.architecture, Architecture::kVora);
  EXPECT_EQ(recipe.model.vision_mask, VisionMask::kBidirectional);
  const Stage& pretrain = recipe.stages.at(0);
  EXPECT_EQ(pretrain.objective, &worker::kVoraObjective);
  EXPECT_EQ(recipe.model.vision_embedding.init, VisionEmbeddingInit::kTeacher);
  EXPECT_EQ(pretrain.distill.pairing, DistillPairing::kPaper);
  EXPECT_EQ(pretrain.lora.rank, 1024);
  EXPECT_EQ(pretrain.lora.layers.size(), 24u);  // N_vit: AIMv2-Huge's blocks
  EXPECT_EQ(static_cast<int64_t>(pretrain.lora.layers.size()), recipe.model.vision.num_layers);
  EXPECT_TRUE(pretrain.merge_lora_at_end);
  EXPECT_EQ(pretrain.schedule.type, recipes::ScheduleKind::kConstant);
  EXPECT_EQ(pretrain.schedule.warmup_steps, 100);
  EXPECT_EQ(recipe.stages.at(1).trainable, (std::vector<std::string>{"llm", "vision_embedding"}));
  // The public code pads with black before AIMv2's processor, in both stages; so does the tiny
  // recipe.
  for (const std::string file : {"recipes/vora.yaml", "recipes/tiny/vora.yaml"}) {
    for (const Stage& stage : load_recipe(repo_path(file)).stages) {
      EXPECT_EQ(stage.data.image_aspect, ImageAspect::kPad) << file << " " << stage.name;
      EXPECT_EQ(stage.data.pad_colour, PadColour::kBlack) << file << " " << stage.name;
    }
  }
}

TEST(ImageKeys, ReadWrittenAndRefusedByName) {
  const std::string tiny = repo_path("recipes/tiny/llava_two_stage.yaml");
  const Recipe recipe = load_recipe(tiny, {"stages.0.data.pad_colour=black"});
  EXPECT_EQ(recipe.stages.at(0).data.pad_colour, PadColour::kBlack);
  EXPECT_EQ(recipe.stages.at(1).data.pad_colour, PadColour::kImageMean);  // the default
  const std::string text = dump(recipe);
  EXPECT_NE(text.find("pad_colour: black"), std::string::npos);
  EXPECT_NE(text.find("pad_colour: image_mean"), std::string::npos);
  EXPECT_NE(text.find("image_aspect: pad"), std::string::npos);
  EXPECT_TRUE(equivalent(load_recipe_text(text, "dumped.yaml"), recipe));
  EXPECT_THAT(config_error([&] { load_recipe(tiny, {"data.pad_colour=grey"}); }),
              ::testing::HasSubstr("data.pad_colour must be one of image_mean, black, got 'grey'"));
  EXPECT_THAT(config_error([&] { load_recipe(tiny, {"data.image_aspect=stretch"}); }),
              ::testing::HasSubstr("data.image_aspect must be one of square, pad, got 'stretch'"));
}

// Issue 19's initialisation and pairing keys: read, written back by name, and refused by name.
TEST(ReferenceFormKeys, ReadWrittenAndRefusedByName) {
  const std::string inverse = repo_path("recipes/tiny/inverse_llava.yaml");
  const Recipe fusion =
      load_recipe(inverse, {"model.fusion.init=llm_std", "model.fusion.vision_norm=none"});
  EXPECT_EQ(fusion.model.fusion.init, FusionInit::kLlmStd);
  EXPECT_EQ(fusion.model.fusion.vision_norm, FusionVisionNorm::kNone);
  const std::string fusion_text = dump(fusion);
  EXPECT_NE(fusion_text.find("init: llm_std"), std::string::npos);
  EXPECT_NE(fusion_text.find("vision_norm: none"), std::string::npos);
  EXPECT_TRUE(equivalent(load_recipe_text(fusion_text, "dumped.yaml"), fusion));
  EXPECT_THAT(
      config_error([&] { load_recipe(inverse, {"model.fusion.vision_norm=layer"}); }),
      ::testing::HasSubstr("model.fusion.vision_norm must be one of auto, rms, none, got 'layer'"));

  const std::string vora = repo_path("recipes/tiny/vora.yaml");
  EXPECT_EQ(load_recipe(vora).model.vision_embedding.init,
            VisionEmbeddingInit::kRandom);  // default
  const Recipe teacher = load_recipe(
      vora, {"model.vision_embedding.init=teacher", "stages.0.distill.pairing=public_code"});
  EXPECT_EQ(teacher.model.vision_embedding.init, VisionEmbeddingInit::kTeacher);
  EXPECT_EQ(teacher.stages.at(0).distill.pairing, DistillPairing::kPublicCode);
  const std::string vora_text = dump(teacher);
  EXPECT_NE(vora_text.find("init: teacher"), std::string::npos);
  EXPECT_NE(vora_text.find("pairing: public_code"), std::string::npos);
  EXPECT_TRUE(equivalent(load_recipe_text(vora_text, "dumped.yaml"), teacher));
  EXPECT_THAT(
      config_error([&] { load_recipe(vora, {"stages.0.distill.pairing=shifted"}); }),
      ::testing::HasSubstr("distill.pairing must be one of paper, public_code, got 'shifted'"));
  EXPECT_THAT(config_error([&] { load_recipe(vora, {"model.vision_embedding.init=clip"}); }),
              ::testing::HasSubstr(
                  "model.vision_embedding.init must be one of random, teacher, got 'clip'"));
}

TEST(RecipeRules, ObjectivesNeedTheirArchitecture) {
  const std::string tiny = repo_path("recipes/tiny/llava_two_stage.yaml");
  EXPECT_THAT(config_error([&] { load_recipe(tiny, {"stages.0.objective=vora"}); }),
              ::testing::HasSubstr("needs model.architecture 'vora', got 'llava'"));
  EXPECT_THAT(config_error([&] { load_recipe(tiny, {"model.architecture=inverse_llava"}); }),
              ::testing::HasSubstr("model.projector.type must be none for model.architecture"));
  EXPECT_THAT(config_error([&] {
                load_recipe(tiny, {"model.architecture=inverse_llava", "model.projector.type=none",
                                   "model.fusion.layers=[0,9]", "stages.0.trainable=[fusion]",
                                   "stages.1.trainable=[fusion]"});
              }),
              ::testing::HasSubstr("model.fusion.layers has 9 but model.llm.num_layers is 4"));
  EXPECT_THAT(config_error([&] { load_recipe(tiny, {"stages.0.trainable=[aux_heads]"}); }),
              ::testing::HasSubstr("has 'aux_heads' but stages[0].objective is llava"));
}

// A recipe kind is data the caller hands to load(): one recipes/ does not name loads, checks and
// round-trips like the shipped ones.
TEST(RecipeRules, ObjectivesComeFromTheCatalogueLoadIsGiven) {
  const ObjectiveKind plain{"plain_ce", std::nullopt, "", {}};
  const ObjectiveKind probe{"probe", Architecture::kVora, "aux_heads", {"<probe>"}};
  const ObjectiveCatalogue catalogue{&plain, &probe};
  const std::string yaml = std::string(kTwoStage) + "    objective: probe\n";
  EXPECT_THAT(config_error([&] { load_text(yaml, kSource, catalogue); }),
              ::testing::HasSubstr("stages[1].objective 'probe' needs model.architecture 'vora'"));
  const Recipe recipe = load_text(kTwoStage, kSource, catalogue);
  EXPECT_EQ(recipe.stages[0].objective, &plain);  // the first is the default
  EXPECT_TRUE(equivalent(load_text(dump(recipe), "resolved", catalogue), recipe));
  EXPECT_EQ(config_error([&] { load_text(kTwoStage, kSource, catalogue, {"objective=vdep"}); }),
            "--set objective=vdep: objective must be one of plain_ce, probe, got 'vdep'");
}

TEST(ShippedRecipes, EveryRecipeFileLoadsAndRoundTrips) {
  size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(repo_path("recipes"))) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const Recipe recipe = load_recipe(entry.path().string());
    EXPECT_TRUE(equivalent(load_recipe_text(recipe.resolved_yaml, "resolved"), recipe));
    ++count;
  }
  EXPECT_GE(count, 2u);
}

TEST(Dump, RoundTripsTheTinyRecipe) {
  const Recipe recipe = load_recipe(repo_path("recipes/tiny/llava_two_stage.yaml"));
  const std::string text = dump(recipe);
  EXPECT_EQ(recipe.resolved_yaml, text);
  const Recipe again = load_recipe_text(text, "resolved.yaml");
  EXPECT_TRUE(equivalent(again, recipe));
  EXPECT_EQ(dump(again), text);
}

TEST(Dump, WritesEveryKeyExpanded) {
  const std::string text = dump(load_recipe_text(kTwoStage, kSource));
  for (const std::string key :
       {"run_dir:", "preset: tiny", "hidden_size: 128", "position_init: sincos", "sharding:",
        "keep_last: 2", "backend: auto", "device: auto", "max_new_tokens: 8", "- name: pretrain",
        "- name: finetune", "template: vicuna_v1", "weight_decay: 0.1", "seed: 42", "max_steps: 7",
        "targets: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
        "down_proj]"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key << " missing from\n" << text;
  }
  // The inherited json is written into each stage, and nowhere else.
  size_t json_count = 0;
  for (size_t at = text.find("json: captions.json"); at != std::string::npos;
       at = text.find("json: captions.json", at + 1)) {
    ++json_count;
  }
  EXPECT_EQ(json_count, 2u);
}

TEST(Dump, RoundTripsAwkwardValuesExactly) {
  Recipe recipe = load_recipe_text(kTwoStage, kSource);
  const std::vector<std::string> awkward = {"~",           "null",        "a: b",      "#x", "",
                                            " lead",       "true",        "1e-3",      "-",  "[x]",
                                            "caf\xc3\xa9", "multi\nline", "tab\there", "'q'"};
  for (const std::string& text : awkward) {
    SCOPED_TRACE(text);
    recipe.model.llm.hf_path = text;
    recipe.stages[1].data.image_root = text;
    EXPECT_TRUE(equivalent(load_recipe_text(dump(recipe), "resolved"), recipe)) << dump(recipe);
  }
  for (const double lr : {0.1, 1.0 / 3.0, 2e-5, 1e-300, 123456789.123456789, 5e-324}) {
    recipe.stages[0].optimizer.lr = lr;
    const Recipe again = load_recipe_text(dump(recipe), "resolved");
    EXPECT_EQ(again.stages[0].optimizer.lr, lr);
  }
  recipe.stages[0].training.seed = std::numeric_limits<uint64_t>::max();
  recipe.stages[1].training.max_steps = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(equivalent(load_recipe_text(dump(recipe), "resolved"), recipe));
}

TEST(Dump, EquivalentSeesEveryDifference) {
  const Recipe base = load_recipe_text(kTwoStage, kSource);
  Recipe changed = base;
  EXPECT_TRUE(equivalent(base, changed));
  changed.resolved_yaml = "other";
  changed.source_path = "other";
  EXPECT_TRUE(equivalent(base, changed));  // not settings
  changed.stages[1].lora.targets.pop_back();
  EXPECT_FALSE(equivalent(base, changed));
  changed = base;
  changed.model.vision.drop_cls = false;
  EXPECT_FALSE(equivalent(base, changed));
  changed = base;
  changed.stages.pop_back();
  EXPECT_FALSE(equivalent(base, changed));
}

TEST(Load, ReadsAFileAndKeepsItsPath) {
  vlm::testing::TempDir dir;
  const std::string path = dir.file("r.yaml");
  std::ofstream(path) << kTwoStage;
  const Recipe recipe = load_recipe(path);
  EXPECT_EQ(recipe.source_path, path);
  EXPECT_EQ(recipe.resolved_yaml, dump(recipe));
  EXPECT_TRUE(equivalent(recipe, load_recipe_text(kTwoStage, kSource)));
}

}  // namespace
}  // namespace vlm::recipes
