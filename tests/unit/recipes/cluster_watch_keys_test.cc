// The cluster keys of the status endpoint and heartbeats: defaults that serve tiny runs and real
// jobs, values --set reaches, and a timeout too close to the interval refused with both keys named.
#include <gtest/gtest.h>

#include "recipes/load.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::config_error;
using testing::kSource;
using testing::kTwoStage;
using testing::load_recipe_text;

TEST(ClusterWatchKeys, DefaultsAreLoopbackAndAMinuteOfSilence) {
  const Recipe recipe = load_recipe_text(kTwoStage, kSource);
  EXPECT_EQ(recipe.cluster.status_port, 0);
  EXPECT_EQ(recipe.cluster.status_address, "127.0.0.1");
  EXPECT_EQ(recipe.cluster.heartbeat_interval_s, 5.0);
  EXPECT_EQ(recipe.cluster.heartbeat_timeout_s, 60.0);
  EXPECT_LT(recipe.cluster.heartbeat_timeout_s, recipe.cluster.timeout_s);
}

TEST(ClusterWatchKeys, SetReachesThemAndZeroIntervalTurnsHeartbeatsOff) {
  const Recipe recipe =
      load_recipe_text(kTwoStage, kSource,
                       {"cluster.status_port=8080", "cluster.status_address=0.0.0.0",
                        "cluster.heartbeat_interval_s=0", "cluster.heartbeat_timeout_s=0.5"});
  EXPECT_EQ(recipe.cluster.status_port, 8080);
  EXPECT_EQ(recipe.cluster.status_address, "0.0.0.0");
  EXPECT_EQ(recipe.cluster.heartbeat_interval_s, 0.0);
  EXPECT_EQ(recipe.cluster.heartbeat_timeout_s, 0.5);
}

TEST(ClusterWatchKeys, BadValuesNameTheirKeys) {
  EXPECT_EQ(config_error([] {
              load_recipe_text(kTwoStage, kSource,
                               {"cluster.heartbeat_interval_s=2", "cluster.heartbeat_timeout_s=5"});
            }),
            "--set cluster.heartbeat_timeout_s=5: cluster.heartbeat_timeout_s (5) must be at least "
            "3 x cluster.heartbeat_interval_s (2)");
  EXPECT_EQ(
      config_error([] { load_recipe_text(kTwoStage, kSource, {"cluster.heartbeat_timeout_s=0"}); }),
      "--set cluster.heartbeat_timeout_s=0: cluster.heartbeat_timeout_s must be > 0, got 0");
  EXPECT_EQ(
      config_error([] { load_recipe_text(kTwoStage, kSource, {"cluster.status_address=''"}); }),
      "--set cluster.status_address='': cluster.status_address is required");
}

}  // namespace
}  // namespace vlm::recipes
