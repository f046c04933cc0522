// Rank 0's part in starting a run: the run directory and the resolved recipe stored in it.
#pragma once

#include "checkpoint/run_layout.h"
#include "recipes/recipe.h"

namespace vlm::coordinator {

// Creates the run directory and writes the resolved recipe as recipe.yaml (atomically).
// The run directory's layout; creates the directory, and on the coordinator writes recipe.yaml.
checkpoint::RunLayout prepare_run(const recipes::Recipe& recipe, bool coordinator);

}  // namespace vlm::coordinator
