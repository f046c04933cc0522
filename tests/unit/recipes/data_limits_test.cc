// The data section's caps (issue 18, items 2, 3, 10): defaults that real corpora pass, values
// --set reaches, and values past the bounds refused with the key named (loader_threads: 100000
// used to abort the process while threads started).
#include <gtest/gtest.h>

#include <string>

#include "recipes/load.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::config_error;
using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe_text;

TEST(DataLimits, DefaultsAndSet) {
  const Recipe recipe = load_recipe_text(kTwoStage, kSource);
  const DataSection& data = recipe.stages.at(0).data;
  EXPECT_EQ(data.max_image_bytes, int64_t{64} << 20);
  EXPECT_EQ(data.max_image_pixels, 89'478'485);
  EXPECT_EQ(data.max_record_bytes, int64_t{4} << 20);
  EXPECT_TRUE(data.verify_shards);
  const Recipe set = load_recipe_text(
      kTwoStage, kSource, {"data.max_image_pixels=1000000", "data.verify_shards=false"});
  EXPECT_EQ(set.stages.at(0).data.max_image_pixels, 1000000);
  EXPECT_FALSE(set.stages.at(0).data.verify_shards);
}

TEST(DataLimits, ValuesPastTheBoundsNameTheirKeys) {
  for (const std::string set :
       {"data.loader_threads=100000", "data.prefetch_batches=1e9", "data.max_image_bytes=0",
        "data.max_image_pixels=-1", "data.max_record_bytes=0", "data.max_record_bytes=4e9"}) {
    const std::string message = config_error([&] { load_recipe_text(kTwoStage, kSource, {set}); });
    const std::string key = set.substr(0, set.find('='));
    EXPECT_NE(message.find(key), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace vlm::recipes
