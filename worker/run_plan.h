// vlm-worker --plan: what a recipe needs per rank, from the model folders' config.json files
// alone. The model is built on the meta device (every name and shape, no memory), each stage's
// structure is replayed as training would (LoRA, added token rows, aux heads, what trains), and
// the engine's memory plan and the activation estimate are evaluated at a chosen world size.
#pragma once

#include <cstdint>
#include <string>

#include "models/activation_memory.h"
#include "models/model.h"
#include "recipes/recipe.h"
#include "sharding/engine.h"

namespace vlm::worker {

// What one rank needs for a stage of this model (its structure as the stage has prepared it),
// with the activation estimate both ways. The trainer checks a stage against it too.
struct StagePlan {
  sharding::MemoryPlan memory;             // activations and model_build included
  models::ActivationEstimate activations;  // as sharding.activation_checkpointing says
  models::ActivationEstimate other;        // with the other setting
  int64_t micro_batch = 0;
  int64_t accumulation = 0;
  int64_t trainable = 0;
};
StagePlan plan_stage(const recipes::ShardingSection& sharding, const recipes::Stage& stage,
                     models::VisionLanguageModel& model, int world_size);

struct PlanOptions {
  int world_size = 1;
  int64_t device_memory = 0;  // bytes per rank; 0: no budget to check against
};

struct PlanOutcome {
  std::string report;  // the printed plan
  bool fits = true;
  // When it does not fit: which stage, what consumes the most, and what to change.
  std::string verdict;
};

// Allocates nothing large. ConfigError for a recipe, folder or world size that cannot be planned.
PlanOutcome plan_run(const recipes::Recipe& recipe, const PlanOptions& options);

}  // namespace vlm::worker
