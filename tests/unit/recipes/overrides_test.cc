// --set overrides: applied to the YAML tree before parsing, so stages inherit them like any
// top-level value.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "recipes/load.h"
#include "recipes/overrides.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe;
using testing::load_recipe_text;

Recipe with_set(const std::vector<std::string>& overrides) {
  return load_recipe_text(kTwoStage, kSource, overrides);
}

TEST(Overrides, ParseSplitsKeysAndValue) {
  const Override parsed = parse_override("stages.1.optimizer.lr=2e-5");
  EXPECT_EQ(parsed.keys, (std::vector<std::string>{"stages", "1", "optimizer", "lr"}));
  EXPECT_EQ(parsed.value, "2e-5");
  EXPECT_EQ(parse_override("stages[1].lr=x").keys, (std::vector<std::string>{"stages", "1", "lr"}));
  EXPECT_EQ(parse_override(" run_dir = a=b").value, " a=b");  // only the first '=' splits
  EXPECT_EQ(parse_override(" run_dir = a=b").keys, std::vector<std::string>{"run_dir"});
}

TEST(Overrides, ScalarChangesTheDefaultEveryStageInherits) {
  const Recipe recipe = with_set({"training.max_steps=20"});
  EXPECT_EQ(recipe.stages[0].training.max_steps, 20);
  EXPECT_EQ(recipe.stages[1].training.max_steps, 7);  // the stage sets its own
}

TEST(Overrides, ScalarCreatesSectionsTheFileLacks) {
  const Recipe recipe = with_set({"checkpoint.every_steps=100", "schedule.type=linear",
                                  "model.vision.position_init=learned", "run_dir=runs/other"});
  EXPECT_EQ(recipe.checkpoint.every_steps, 100);
  EXPECT_EQ(recipe.stages[1].schedule.type, recipes::ScheduleKind::kLinear);
  EXPECT_EQ(recipe.model.vision.position_init, recipes::PositionInit::kLearned);
  EXPECT_EQ(recipe.model.vision.image_size, 32);  // the rest of the preset stays
  EXPECT_EQ(recipe.run_dir, "runs/other");
}

TEST(Overrides, ListIndexReachesOneStage) {
  const Recipe recipe = with_set({"stages.1.optimizer.lr=3e-5"});
  EXPECT_DOUBLE_EQ(recipe.stages[0].optimizer.lr, 1e-3);
  EXPECT_DOUBLE_EQ(recipe.stages[1].optimizer.lr, 3e-5);
  const Recipe bracketed = with_set({"stages[0].training.max_steps=9"});
  EXPECT_EQ(bracketed.stages[0].training.max_steps, 9);
}

TEST(Overrides, StageKeysTheStageLacksAreAdded) {
  const Recipe recipe = with_set({"stages.0.data.template=qwen2"});
  EXPECT_EQ(recipe.stages[0].data.chat_template, recipes::Template::kQwen2);
  EXPECT_EQ(recipe.stages[0].data.json, "captions.json");
}

TEST(Overrides, FlowListReplacesAList) {
  const Recipe recipe = with_set({"stages.0.trainable=[projector,llm]"});
  EXPECT_EQ(recipe.stages[0].trainable, (std::vector<std::string>{"projector", "llm"}));
  const Recipe one_entry = with_set({"stages.1.trainable.1=vision"});
  EXPECT_EQ(one_entry.stages[1].trainable, (std::vector<std::string>{"projector", "vision"}));
}

TEST(Overrides, FlowMapReplacesASection) {
  const Recipe recipe = with_set({"stages.1.optimizer={lr: 4e-5, beta2: 0.95}"});
  EXPECT_DOUBLE_EQ(recipe.stages[1].optimizer.lr, 4e-5);
  EXPECT_DOUBLE_EQ(recipe.stages[1].optimizer.beta2, 0.95);
  EXPECT_DOUBLE_EQ(recipe.stages[1].optimizer.weight_decay, 0.1);  // still inherited
}

TEST(Overrides, PresetSwapKeepsTheKeysBesideIt) {
  const Recipe recipe = with_set({"model.preset=vicuna-7b+clip-vit-l-336"});
  EXPECT_EQ(recipe.model.llm.hidden_size, 4096);
  EXPECT_EQ(recipe.model.vision.image_size, 336);
}

TEST(Overrides, TheShippedTinyRecipeTakesTheCommonOverrides) {
  const Recipe recipe =
      load_recipe(testing::repo_path("recipes/tiny/llava_two_stage.yaml"),
                  {"training.max_steps=20", "optimizer.lr=3e-4", "training.seed=1234",
                   "run_dir=/tmp/r", "data.corpus_dir=/tmp/corpus"});
  for (const Stage& stage : recipe.stages) {
    EXPECT_EQ(stage.training.max_steps, 20);
    EXPECT_DOUBLE_EQ(stage.optimizer.lr, 3e-4);
    EXPECT_EQ(stage.training.seed, 1234u);
    EXPECT_EQ(stage.data.corpus_dir, "/tmp/corpus");
  }
  EXPECT_EQ(recipe.run_dir, "/tmp/r");
  EXPECT_NE(recipe.resolved_yaml.find("seed: 1234"), std::string::npos);
}

TEST(Overrides, LaterOverridesWin) {
  const Recipe recipe = with_set({"optimizer.lr=5e-4", "optimizer.lr=6e-4"});
  EXPECT_DOUBLE_EQ(recipe.stages[0].optimizer.lr, 6e-4);
}

TEST(Overrides, WorkWithoutStagesAndOnAnEmptyFile) {
  const Recipe recipe =
      load_recipe_text("data: {json: a.json}\n", kSource, {"training.max_steps=20"});
  EXPECT_EQ(recipe.stages.at(0).training.max_steps, 20);
  const Recipe from_nothing = load_recipe_text("", kSource, {"data.json=a.json", "run_dir=r"});
  EXPECT_EQ(from_nothing.stages.at(0).data.json, "a.json");
  EXPECT_EQ(from_nothing.run_dir, "r");
}

TEST(Overrides, EmptyValueIsTheEmptyString) {
  const Recipe recipe = with_set({"model.llm.hf_path="});
  EXPECT_EQ(recipe.model.llm.hf_path, "");
}

}  // namespace
}  // namespace vlm::recipes
