// data.json and data.shards: exactly one per stage, and switching a stage from one to the other
// takes one key (in the file or with --set).
#include <gtest/gtest.h>

#include "recipes/load.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::config_error;
using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe_text;
using testing::replaced;

Recipe load_two_stage(const std::vector<std::string>& overrides) {
  return load_recipe_text(kTwoStage, kSource, overrides);
}

TEST(DataSource, ShardsAloneAreAccepted) {
  const Recipe recipe = load_recipe_text("data: {shards: shards/captions}\n", kSource);
  EXPECT_EQ(recipe.stages[0].data.shards, "shards/captions");
  EXPECT_EQ(recipe.stages[0].data.json, "");
}

TEST(DataSource, BothAtOneLevelIsAnErrorNamingBothKeys) {
  EXPECT_EQ(config_error([] { load_recipe_text("data: {json: a.json, shards: s}\n", kSource); }),
            "x.yaml:1: data.json and data.shards are both set: a stage reads one of them (set "
            "the other to '')");
  const std::string both = replaced(kTwoStage, "    data: {template: vicuna_v1}\n",
                                    "    data: {template: vicuna_v1, json: b.json, shards: s}\n");
  EXPECT_EQ(config_error([&] { load_recipe_text(both, kSource); }),
            "x.yaml:17: stages[1].data.json and stages[1].data.shards are both set: a stage "
            "reads one of them (set the other to '')");
}

TEST(DataSource, AStageNamingShardsDropsTheInheritedJson) {
  const std::string text = replaced(kTwoStage, "    data: {template: vicuna_v1}\n",
                                    "    data: {template: vicuna_v1, shards: s}\n");
  const Recipe recipe = load_recipe_text(text, kSource);
  EXPECT_EQ(recipe.stages[0].data.json, "captions.json");
  EXPECT_EQ(recipe.stages[0].data.shards, "");
  EXPECT_EQ(recipe.stages[1].data.json, "");
  EXPECT_EQ(recipe.stages[1].data.shards, "s");
}

TEST(DataSource, OneSetSwitchesAStageAndKeepsTheOther) {
  const Recipe recipe = load_two_stage({"stages.1.data.shards=shards/mix"});
  EXPECT_EQ(recipe.stages[0].data.json, "captions.json");
  EXPECT_EQ(recipe.stages[1].data.json, "");
  EXPECT_EQ(recipe.stages[1].data.shards, "shards/mix");
  EXPECT_EQ(recipe.stages[1].data.chat_template,
            recipes::Template::kVicunaV1);  // the rest of data stays
}

TEST(DataSource, OneSetAtTheTopSwitchesEveryStageThatInherits) {
  const Recipe recipe = load_two_stage({"data.shards=shards/all"});
  for (const Stage& stage : recipe.stages) {
    EXPECT_EQ(stage.data.json, "");
    EXPECT_EQ(stage.data.shards, "shards/all");
  }
  // And back: a json override drops the shards beside it.
  const Recipe back = load_two_stage({"data.shards=shards/all", "data.json=other.json"});
  EXPECT_EQ(back.stages[1].data.json, "other.json");
  EXPECT_EQ(back.stages[1].data.shards, "");
}

TEST(DataSource, SwitchingAStageThatSetsJsonInTheFile) {
  // The tiny recipe's shape: every stage names its own json.
  const std::string text =
      "stages:\n"
      "  - {name: a, data: {json: a.json}}\n"
      "  - {name: b, data: {json: b.json, template: vicuna_v1}}\n";
  const Recipe recipe =
      load_recipe_text(text, kSource, {"stages.0.data.shards=sa", "stages.1.data.shards=sb"});
  EXPECT_EQ(recipe.stages[0].data.shards, "sa");
  EXPECT_EQ(recipe.stages[0].data.json, "");
  EXPECT_EQ(recipe.stages[1].data.shards, "sb");
  EXPECT_EQ(recipe.stages[1].data.json, "");
  // A top-level shards override would be shadowed by every stage's own json: an error, not a
  // silent no-op.
  EXPECT_NE(config_error([&] {
              load_recipe_text(text, kSource, {"data.shards=s"});
            }).find("--set data.shards=s: changes nothing"),
            std::string::npos);
}

TEST(DataSource, ClearingOneSourceKeepsTheOther) {
  const Recipe recipe = load_two_stage({"stages.1.data.shards=s", "stages.1.data.json="});
  EXPECT_EQ(recipe.stages[1].data.shards, "s");
  EXPECT_EQ(recipe.stages[1].data.json, "");
  EXPECT_NE(config_error([] { load_two_stage({"data.json="}); }).find("is required"),
            std::string::npos);
}

TEST(DataSource, TheResolvedRecipeReadsBackTheSame) {
  const Recipe recipe = load_two_stage({"stages.1.data.shards=shards/mix"});
  const Recipe again = load_recipe_text(recipe.resolved_yaml, "resolved.yaml");
  EXPECT_EQ(again.stages[0].data.json, "captions.json");
  EXPECT_EQ(again.stages[1].data.shards, "shards/mix");
  EXPECT_EQ(again.stages[1].data.json, "");
  EXPECT_EQ(again.resolved_yaml, recipe.resolved_yaml);
}

}  // namespace
}  // namespace vlm::recipes
