// Everything a run reads, checked before it writes anything (the run directory, recipe.yaml,
// TensorBoard files): the model folders (a config.json that parses, weights whose names and
// shapes fit the model), the tokenizer, and each stage's corpus and image folder. A missing or
// unfit piece is a ConfigError naming the recipe key, the path and what should be there, so a
// mistyped path costs seconds, not a half-made run directory.
#pragma once

#include <string>

#include "recipes/recipe.h"

namespace vlm::worker {

// Also replays every stage's structure on a meta-device model of the run's vocabulary, so a
// LoRA target or layer list that does not fit the folder's model is caught too. Returns a one-line
// summary (vlm-worker --check prints it).
std::string check_run_inputs(const recipes::Recipe& recipe);

}  // namespace vlm::worker
