// vdep.split and vdep.text_loss_on_vdep_rows: typed keys (an enum and a bool) that parse, refuse
// unknown words naming the choices, take --set, and survive dump() and load_recipe_text()
// again.
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

const std::string kVdep = replaced(kTwoStage, "    trainable: [projector]\n",
                                   "    objective: vdep\n"
                                   "    trainable: [projector, added_tokens]\n");

TEST(VdepSplitKeys, DefaultsAreThePapersForm) {
  const Recipe recipe = load_recipe_text(kVdep, kSource);
  EXPECT_EQ(recipe.stages.at(0).vdep.split, VdepSplit::kExact);
  EXPECT_FALSE(recipe.stages.at(0).vdep.text_loss_on_vdep_rows);
}

TEST(VdepSplitKeys, ParseSetAndRoundTrip) {
  const std::string text = replaced(kVdep, "    objective: vdep\n",
                                    "    objective: vdep\n"
                                    "    vdep: {split: shuffled, text_loss_on_vdep_rows: true}\n");
  const Recipe recipe = load_recipe_text(text, kSource);
  EXPECT_EQ(recipe.stages.at(0).vdep.split, VdepSplit::kShuffled);
  EXPECT_TRUE(recipe.stages.at(0).vdep.text_loss_on_vdep_rows);
  EXPECT_NE(recipe.resolved_yaml.find("split: shuffled"), std::string::npos);
  EXPECT_NE(recipe.resolved_yaml.find("split: exact"), std::string::npos);  // stage 2's default
  EXPECT_TRUE(equivalent(load_recipe_text(recipe.resolved_yaml, "dump"), recipe));

  const Recipe set = load_recipe_text(kVdep, kSource, {"stages.0.vdep.split=shuffled"});
  EXPECT_EQ(set.stages.at(0).vdep.split, VdepSplit::kShuffled);
  EXPECT_FALSE(equivalent(set, load_recipe_text(kVdep, kSource)));
}

TEST(VdepSplitKeys, UnknownWordNamesTheChoices) {
  EXPECT_EQ(config_error([&] {
              load_recipe_text(replaced(kVdep, "    objective: vdep\n",
                                        "    objective: vdep\n    vdep: {split: half}\n"),
                               kSource);
            }),
            "x.yaml:15: stages[0].vdep.split must be one of exact, shuffled, got 'half'");
  EXPECT_EQ(
      config_error([&] { load_recipe_text(kVdep, kSource, {"stages.0.vdep.split=[exact]"}); }),
      "--set stages.0.vdep.split=[exact]: stages[0].vdep.split must be one of exact, "
      "shuffled, got a list");
}

}  // namespace
}  // namespace vlm::recipes
