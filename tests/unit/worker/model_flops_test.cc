// The FLOPs per token behind the logged MFU: what trains, what only passes gradients, what only
// runs forward, and what is a lookup.
#include "worker/model_flops.h"

#include <gtest/gtest.h>

namespace vlm::worker {
namespace {

using Units = std::vector<models::ShardingUnit>;

// LLaVA's parts in forward order: vision 100, projector 10, embedding 1000, two layers of 50,
// a head of 1000 (numbers of weights).
Units llava_units(bool tied) {
  Units units = {{"vision", {"vision.w"}, {}},
                 {"projector", {"projector.0.weight"}, {}},
                 {"llm.embed_tokens", {"llm.model.embed_tokens.weight"}, {}},
                 {"llm.layers.0", {"llm.model.layers.0.w"}, {}},
                 {"llm.layers.1", {"llm.model.layers.1.w"}, {}}};
  if (tied) {
    units.push_back({"llm.head", {"llm.model.norm.weight"}, {"llm.embed_tokens"}});
  } else {
    units.push_back({"llm.head", {"llm.lm_head.weight"}, {}});
  }
  return units;
}

std::map<std::string, ParameterFacts> facts(const Units& units,
                                            const std::vector<std::string>& trained) {
  const std::map<std::string, int64_t> sizes = {{"vision.w", 100},
                                                {"projector.0.weight", 10},
                                                {"llm.model.embed_tokens.weight", 1000},
                                                {"llm.model.layers.0.w", 50},
                                                {"llm.model.layers.1.w", 50},
                                                {"llm.lm_head.weight", 1000},
                                                {"llm.model.norm.weight", 0}};
  std::map<std::string, ParameterFacts> all;
  for (const auto& unit : units) {
    for (const auto& name : unit.param_names) {
      bool trains = false;
      for (const auto& prefix : trained) trains = trains || name.rfind(prefix, 0) == 0;
      all[name] = {sizes.at(name), trains, is_lookup_table(name)};
    }
  }
  return all;
}

TEST(TrainingFlops, EverythingTrainingIsSixPerWeightButTheFirstUnitAndTheLookup) {
  const Units units = llava_units(false);
  // vision trains but has nothing before it: 4; the embedding is a lookup: 0.
  EXPECT_DOUBLE_EQ(training_flops_per_token(units, facts(units, {"vision", "projector", "llm"})),
                   4 * 100 + 6 * (10 + 50 + 50 + 1000));
}

TEST(TrainingFlops, AFrozenTowerAheadRunsForwardOnly) {
  const Units units = llava_units(false);
  // LLaVA stage 2: vision 2, projector 4 (nothing before it trains), the LLM 6.
  EXPECT_DOUBLE_EQ(training_flops_per_token(units, facts(units, {"projector", "llm"})),
                   2 * 100 + 4 * 10 + 6 * (50 + 50 + 1000));
  // Stage 1: only the projector; the frozen LLM after it still passes input gradients: 4.
  EXPECT_DOUBLE_EQ(training_flops_per_token(units, facts(units, {"projector"})),
                   2 * 100 + 4 * 10 + 4 * (50 + 50 + 1000));
}

TEST(TrainingFlops, ATiedHeadMultipliesByTheEmbedding) {
  const Units units = llava_units(true);
  EXPECT_DOUBLE_EQ(training_flops_per_token(units, facts(units, {"projector", "llm"})),
                   2 * 100 + 4 * 10 + 6 * (1000 + 50 + 50));
}

}  // namespace
}  // namespace vlm::worker
