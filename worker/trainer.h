// The training loop: for each stage of the recipe, build its loader and optimizer, run its steps,
// export the model. The straight line of ARCHITECTURE.md.
#pragma once

#include <string>
#include <vector>

#include "checkpoint/run_layout.h"
#include "cluster/world.h"
#include "recipes/recipe.h"

namespace vlm::worker {

struct StageResult {
  std::string stage;
  int64_t steps = 0;
  double first_loss = 0.0;
  double last_loss = 0.0;  // mean over the last log_every steps
  double seconds = 0.0;
  double tokens_per_s = 0.0;
};

// Runs every stage of the recipe; exports each earlier stage's model to layout.stage_model() and
// the last one's to layout.final_model().
std::vector<StageResult> train(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
                               const cluster::World& world);

// Steps a stage takes: training.max_steps when set, else floor(epochs * samples / global batch).
int64_t stage_steps(const recipes::TrainingSection& training, int64_t samples_per_epoch);

}  // namespace vlm::worker
