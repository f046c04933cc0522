// Every mistake in a recipe is a ConfigError that names the file, the line and the full key, or
// the --set override it came from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "recipes/load.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::config_error;
using ::testing::HasSubstr;
using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe;
using testing::load_recipe_text;
using testing::replaced;
using ::testing::StartsWith;

// The message of loading kTwoStage with `from` replaced by `to`.
std::string error_after(const std::string& from, const std::string& to) {
  const std::string text = replaced(kTwoStage, from, to);
  return config_error([&] { load_recipe_text(text, kSource); });
}

std::string error_with_set(const std::vector<std::string>& overrides) {
  return config_error([&] { load_recipe_text(kTwoStage, kSource, overrides); });
}

TEST(RecipeErrors, TheBaseRecipeLoads) { EXPECT_NO_THROW(load_recipe_text(kTwoStage, kSource)); }

TEST(RecipeErrors, UnknownKeySuggestsTheNearestKnownOne) {
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lrr: 1.0e-3"),
            "x.yaml:8: unknown key 'optimizer.lrr' (did you mean 'lr'?)");
}

TEST(RecipeErrors, UnknownKeyFarFromAnyListsTheKnownOnes) {
  EXPECT_EQ(error_after("  weight_decay: 0.1\n", "  weight_decay: 0.1\n  momentum: 0.9\n"),
            "x.yaml:10: unknown key 'optimizer.momentum' (known keys: name, lr, projector_lr, "
            "beta1, beta2, eps, weight_decay, grad_clip)");
}

TEST(RecipeErrors, UnknownKeyInsideAStageNamesTheStage) {
  EXPECT_EQ(error_after("optimizer: {lr: 2.0e-5}", "optimizer: {lrr: 2.0e-5}"),
            "x.yaml:18: unknown key 'stages[1].optimizer.lrr' (did you mean 'lr'?)");
  EXPECT_EQ(error_after("  - name: pretrain\n", "  - name: pretrain\n    epochs: 2\n"),
            "x.yaml:14: unknown key 'stages[0].epochs' (known keys: name, objective, trainable, "
            "data, optimizer, schedule, training, lora, vdep, distill, merge_lora_at_end)");
}

TEST(RecipeErrors, RecipeWideSectionInsideAStageSaysWhereItBelongs) {
  EXPECT_EQ(error_after("  - name: pretrain\n", "  - name: pretrain\n    model: {preset: tiny}\n"),
            "x.yaml:14: unknown key 'stages[0].model' (model applies to the whole recipe: set it "
            "at the top level)");
}

TEST(RecipeErrors, OneDeviceForTheWholeRun) {
  EXPECT_THAT(error_with_set({"training.device=gpu"}),
              HasSubstr("training.device must be auto, cpu, cuda or cuda:<index>, got 'gpu'"));
  EXPECT_THAT(error_with_set({"stages.1.training.device=cpu"}),
              HasSubstr("stages[1].training.device is 'cpu' but stages[0].training.device is "
                        "'auto': a run trains on one device"));
  EXPECT_NO_THROW(load_recipe_text(kTwoStage, kSource, {"training.device=cuda:3"}));
}

TEST(RecipeErrors, OneTokenizerForTheWholeRun) {
  EXPECT_EQ(error_after("    data: {template: vicuna_v1}\n",
                        "    data: {template: vicuna_v1, tokenizer: t.model}\n"),
            "x.yaml:17: stages[1].data.tokenizer is 't.model' but stages[0].data.tokenizer is '': "
            "a run has one vocabulary (set data.tokenizer once, at the top level)");
  EXPECT_THAT(error_with_set({"stages.0.data.tokenizer=t.model"}),
              StartsWith("--set stages.0.data.tokenizer=t.model: stages[1].data.tokenizer is ''"));
  EXPECT_NO_THROW(load_recipe_text(kTwoStage, kSource, {"data.tokenizer=t.model"}));
}

TEST(RecipeErrors, DuplicateKey) {
  EXPECT_EQ(error_after("  lr: 1.0e-3\n", "  lr: 1.0e-3\n  lr: 2.0e-3\n"),
            "x.yaml:9: duplicate key 'optimizer.lr' (first given at x.yaml:8)");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\ntraining: {seed: 1}\n"),
            "x.yaml:11: duplicate key 'training' (first given at x.yaml:2)");
}

TEST(RecipeErrors, WrongTypes) {
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  llm: {hidden_size: abc}\n"),
            "x.yaml:4: model.llm.hidden_size must be an integer, got 'abc'");
  EXPECT_EQ(error_after("  max_steps: 0", "  max_steps: 1.5"),
            "x.yaml:11: training.max_steps must be an integer, got '1.5'");
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lr: fast"),
            "x.yaml:8: optimizer.lr must be a number, got 'fast'");
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lr: inf"),
            "x.yaml:8: optimizer.lr must be a finite number, got inf");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {drop_cls: maybe}\n"),
            "x.yaml:4: model.vision.drop_cls must be true or false, got 'maybe'");
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lr: [1]"),
            "x.yaml:8: optimizer.lr must be a number, got a list");
  EXPECT_EQ(error_after("run_dir: runs/test", "run_dir: {a: 1}"),
            "x.yaml:1: run_dir must be a string, got a map");
  EXPECT_EQ(error_after("  max_steps: 0\n", "  max_steps: 0\n  seed: -1\n"),
            "x.yaml:12: training.seed must be an integer >= 0, got '-1'");
}

TEST(RecipeErrors, WrongShapes) {
  EXPECT_EQ(error_after("optimizer:\n  lr: 1.0e-3\n  weight_decay: 0.1\n", "optimizer: fast\n"),
            "x.yaml:7: optimizer must be a map of settings, got 'fast'");
  EXPECT_EQ(error_after("trainable: [projector]\n", "trainable: projector\n"),
            "x.yaml:14: stages[0].trainable must be a list such as [a, b], got 'projector'");
  EXPECT_EQ(error_after("trainable: [projector]\n", "trainable: [[projector]]\n"),
            "x.yaml:14: stages[0].trainable[0] must be a name, got a list");
  EXPECT_EQ(error_after("stages:\n", "stages: []\nunused:\n"),
            "x.yaml:13: unknown key 'unused' (known keys: run_dir, model, sharding, checkpoint, "
            "cluster, eval, stages, objective, trainable, data, optimizer, schedule, training, "
            "lora, vdep, distill, merge_lora_at_end)");
  EXPECT_EQ(config_error([] { load_recipe_text("just text", kSource); }),
            "x.yaml:1: a recipe is a map of sections (run_dir, model, stages...), got 'just text'");
  EXPECT_EQ(config_error([] { load_recipe_text("# nothing but a comment\n", kSource); }),
            "x.yaml: the recipe is empty");
  EXPECT_EQ(config_error([] { load_recipe_text("run_dir: a\n---\nrun_dir: b\n", kSource); }),
            "x.yaml:2: a second YAML document (after ---): a recipe is one document");
  EXPECT_EQ(config_error([] { load_recipe_text(",\nrun_dir: a\n", kSource); }),
            "x.yaml:1: invalid YAML: unexpected ','");
}

TEST(RecipeErrors, EmptyStageListAndNonMapStage) {
  const std::string no_stages =
      "data: {json: a.json}\n"
      "stages: []\n";
  EXPECT_EQ(config_error([&] { load_recipe_text(no_stages, kSource); }),
            "x.yaml:2: stages must list at least one stage");
  const std::string scalar_stage =
      "data: {json: a.json}\n"
      "stages:\n"
      "  - pretrain\n";
  EXPECT_EQ(config_error([&] { load_recipe_text(scalar_stage, kSource); }),
            "x.yaml:3: stages[0] must be a map with a name, got 'pretrain'");
}

TEST(RecipeErrors, InvalidYamlNamesTheLine) {
  const std::string message = error_after("trainable: [projector]\n", "trainable: [projector\n");
  EXPECT_THAT(message, StartsWith("x.yaml:"));
  EXPECT_THAT(message, HasSubstr("invalid YAML"));
}

TEST(RecipeErrors, MissingFile) {
  vlm::testing::TempDir dir;
  const std::string path = dir.file("missing.yaml");
  EXPECT_EQ(config_error([&] { load_recipe(path); }), path + ": cannot open recipe file");
  EXPECT_EQ(config_error([&] { load_recipe(dir.path()); }),
            dir.path() + ": cannot open recipe file");
}

TEST(RecipeErrors, OutOfRangeValues) {
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lr: -1"), "x.yaml:8: optimizer.lr must be > 0, got -1");
  EXPECT_EQ(error_after("  lr: 1.0e-3", "  lr: 0"), "x.yaml:8: optimizer.lr must be > 0, got 0");
  EXPECT_EQ(error_after("  weight_decay: 0.1", "  weight_decay: -0.1"),
            "x.yaml:9: optimizer.weight_decay must be >= 0, got -0.1");
  EXPECT_EQ(error_after("  weight_decay: 0.1", "  beta2: 1.0"),
            "x.yaml:9: optimizer.beta2 must be in [0, 1), got 1");
  EXPECT_EQ(error_after("  max_steps: 0", "  max_steps: -3"),
            "x.yaml:11: training.max_steps must be >= 0, got -3");
  EXPECT_EQ(error_after("  max_steps: 0", "  global_batch_size: 0"),
            "x.yaml:11: training.global_batch_size must be > 0, got 0");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\nsharding: {stage: 4}\n"),
            "x.yaml:2: sharding.stage must be in [0, 3], got 4");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\ncheckpoint: {keep_last: 1}\n"),
            "x.yaml:2: checkpoint.keep_last must be >= 2, got 1");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\ncluster: {timeout_s: 0}\n"),
            "x.yaml:2: cluster.timeout_s must be > 0, got 0");
  EXPECT_EQ(
      error_after("run_dir: runs/test\n", "run_dir: runs/test\nschedule: {warmup_ratio: 1}\n"),
      "x.yaml:2: schedule.warmup_ratio must be in [0, 1), got 1");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\nlora: {dropout: 1.0}\n"),
            "x.yaml:2: lora.dropout must be in [0, 1), got 1");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\nlora: {alpha: 0}\n"),
            "x.yaml:2: lora.alpha must be > 0, got 0");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: \"\"\n"),
            "x.yaml:1: run_dir is required");
}

TEST(RecipeErrors, AStageValueNamesTheStage) {
  EXPECT_EQ(error_after("optimizer: {lr: 2.0e-5}", "optimizer: {lr: -2}"),
            "x.yaml:18: stages[1].optimizer.lr must be > 0, got -2");
  EXPECT_EQ(error_after("      max_steps: 7", "      max_steps: -7"),
            "x.yaml:20: stages[1].training.max_steps must be >= 0, got -7");
}

TEST(RecipeErrors, UnknownEnumeratedValues) {
  EXPECT_EQ(error_after("{template: vicuna_v1}", "{template: gpt}"),
            "x.yaml:17: stages[1].data.template must be one of plain, vicuna_v1, qwen2, got 'gpt'");
  EXPECT_EQ(error_after("[projector, llm]", "[projector, lml]"),
            "x.yaml:16: stages[1].trainable[1] must be one of vision, projector, llm, lora, "
            "embed_tokens, lm_head, fusion, vision_embedding, aux_heads, added_tokens, got 'lml'");
  EXPECT_EQ(error_after("[projector, llm]", "[projector, projector]"),
            "x.yaml:16: stages[1].trainable[1] repeats 'projector'");
  EXPECT_EQ(error_after("[projector, llm]", "[]"),
            "x.yaml:16: stages[1].trainable must list at least one of vision, projector, llm, "
            "lora, embed_tokens, lm_head, fusion, vision_embedding, aux_heads, added_tokens");
  EXPECT_EQ(error_after("  preset: tiny", "  preset: huge"),
            "x.yaml:3: model.preset must be one of tiny, vicuna-7b+clip-vit-l-336, "
            "qwen2.5-7b+aimv2-huge-448, got 'huge'");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  llm: {family: gpt}\n"),
            "x.yaml:4: model.llm.family must be one of llama, qwen2, got 'gpt'");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {position_init: rope}\n"),
            "x.yaml:4: model.vision.position_init must be one of learned, sincos, got 'rope'");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\ncluster: {backend: gloo}\n"),
            "x.yaml:2: cluster.backend must be one of auto, mpi, nccl, got 'gloo'");
  EXPECT_EQ(error_after("  - name: pretrain\n", "  - name: pretrain\n    objective: dpo\n"),
            "x.yaml:14: stages[0].objective must be one of llava, vdep, vora, got 'dpo'");
  EXPECT_EQ(error_after("run_dir: runs/test\n", "run_dir: runs/test\nlora: {targets: [fc1]}\n"),
            "x.yaml:2: lora.targets[0] must be one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
            "up_proj, down_proj, lm_head, got 'fc1'");
  EXPECT_EQ(error_after("  max_steps: 0\n", "  max_steps: 0\n  dtype: fp16\n"),
            "x.yaml:12: training.dtype must be one of fp32, bf16, got 'fp16'");
}

TEST(RecipeErrors, RulesAcrossFields) {
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  llm: {num_heads: 5}\n"),
            "x.yaml:4: model.llm.hidden_size (128) must be divisible by model.llm.num_heads (5)");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  llm: {num_kv_heads: 3}\n"),
            "x.yaml:4: model.llm.num_heads (4) must be divisible by model.llm.num_kv_heads (3)");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  llm: {hidden_size: 132}\n"),
            "x.yaml:4: model.llm.hidden_size / model.llm.num_heads (the head dimension) must be "
            "even for RoPE, got 33");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {patch_size: 7}\n"),
            "x.yaml:4: model.vision.image_size (32) must be divisible by model.vision.patch_size "
            "(7)");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {feature_layer: 3}\n"),
            "x.yaml:4: model.vision.feature_layer must be in [-3, 2] for 2 layers, got 3");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {feature_layer: -4}\n"),
            "x.yaml:4: model.vision.feature_layer must be in [-3, 2] for 2 layers, got -4");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  vision: {type: aimv2}\n"),
            "x.yaml:4: model.vision.drop_cls must be false for model.vision.type aimv2: AIMv2 has "
            "no class token to drop");
  EXPECT_NO_THROW(
      load_recipe_text(replaced(kTwoStage, "  preset: tiny\n",
                                "  preset: tiny\n  vision: {type: aimv2, drop_cls: false}\n"),
                       kSource));
  EXPECT_EQ(error_after("  max_steps: 0\n", "  max_steps: 0\n  micro_batch_size: 5\n"),
            "x.yaml:12: stages[0].training.global_batch_size (64) must be divisible by "
            "training.micro_batch_size (5)");
  EXPECT_EQ(error_after("[projector, llm]", "[projector, lora]"),
            "x.yaml:16: stages[1].trainable has 'lora' but stages[1].lora.rank is 0");
  EXPECT_EQ(error_after("  preset: tiny\n", "  preset: tiny\n  projector: {type: none}\n"),
            "x.yaml:15: stages[0].trainable has 'projector' but model.projector.type is none");
}

TEST(RecipeErrors, EveryStageNeedsItsDataAndAUniqueName) {
  EXPECT_EQ(error_after("  json: captions.json\n", ""),
            "x.yaml:12: stages[0].data.json or stages[0].data.shards is required (a corpus file, "
            "or a folder vlm-shard wrote)");
  EXPECT_EQ(error_after("  - name: finetune", "  - name: pretrain"),
            "x.yaml:15: stages[1].name 'pretrain' is already the name of stages[0]");
  EXPECT_EQ(error_after("  - name: finetune\n", "  - objective: llava\n"),
            "x.yaml:15: stages[1].name is required");
  EXPECT_EQ(config_error([] { load_recipe_text("run_dir: r\n", kSource); }),
            "x.yaml: data.json or data.shards is required (a corpus file, or a folder vlm-shard "
            "wrote)");
}

TEST(RecipeErrors, MalformedOverridesNameTheOverride) {
  EXPECT_EQ(error_with_set({"optimizer.lr"}),
            "--set optimizer.lr: expected key=value, e.g. --set optimizer.lr=2e-5");
  EXPECT_EQ(error_with_set({"=1"}), "--set =1: the key before '=' is empty");
  EXPECT_EQ(error_with_set({"a..b=1"}),
            "--set a..b=1: malformed key 'a..b' (expected names joined by dots, e.g. stages.1.lr)");
  EXPECT_EQ(error_with_set({"stages[1=1"}),
            "--set stages[1=1: malformed key 'stages[1' (expected names joined by dots, e.g. "
            "stages.1.lr)");
  EXPECT_EQ(error_with_set({"stages.5.name=x"}),
            "--set stages.5.name=x: stages has 2 entries, so no entry 5 (entries count from 0)");
  EXPECT_EQ(error_with_set({"stages.first.name=x"}),
            "--set stages.first.name=x: stages is a list: name an entry by its number, e.g. "
            "stages.0");
  EXPECT_EQ(error_with_set({"run_dir.x=1"}),
            "--set run_dir.x=1: run_dir is a single value, so it has no key 'x'");
  EXPECT_THAT(error_with_set({"optimizer.lr=[1"}),
              StartsWith("--set optimizer.lr=[1: the value is not valid YAML ("));
}

TEST(RecipeErrors, BadOverrideValuesNameTheOverride) {
  EXPECT_EQ(error_with_set({"optimizer.lr=-1"}),
            "--set optimizer.lr=-1: optimizer.lr must be > 0, got -1");
  EXPECT_EQ(error_with_set({"optimizer.lrr=1"}),
            "--set optimizer.lrr=1: unknown key 'optimizer.lrr' (did you mean 'lr'?)");
  EXPECT_EQ(error_with_set({"model.llm.hidden_size=abc"}),
            "--set model.llm.hidden_size=abc: model.llm.hidden_size must be an integer, got 'abc'");
  EXPECT_EQ(error_with_set({"stages.1.trainable=[projector,bogus]"}),
            "--set stages.1.trainable=[projector,bogus]: stages[1].trainable[1] must be one of "
            "vision, projector, llm, lora, embed_tokens, lm_head, fusion, vision_embedding, "
            "aux_heads, added_tokens, got 'bogus'");
  EXPECT_EQ(error_with_set({"stages[1].optimizer={lr: 0}"}),
            "--set stages[1].optimizer={lr: 0}: stages[1].optimizer.lr must be > 0, got 0");
  // A default no stage inherits would change nothing.
  EXPECT_EQ(error_with_set({"stages.0.optimizer.lr=3e-4", "optimizer.lr=5e-4"}),
            "--set optimizer.lr=5e-4: changes nothing: every stage sets its own optimizer.lr "
            "(use stages.N.optimizer.lr)");
  EXPECT_EQ(error_with_set({"trainable=[llm]"}),
            "--set trainable=[llm]: changes nothing: every stage sets its own trainable (use "
            "stages.N.trainable)");
  // The file's own values keep their lines next to an override.
  EXPECT_EQ(config_error([] {
              load_recipe_text(replaced(kTwoStage, "  lr: 1.0e-3", "  lr: -1"), kSource,
                               {"stages.1.optimizer.lr=3"});
            }),
            "x.yaml:8: optimizer.lr must be > 0, got -1");
}

}  // namespace
}  // namespace vlm::recipes
