// The recipe kinds: every stages[].objective a recipe may name, with the rules recipes::load()
// checks for it. Plain data, without LibTorch, so that the tools and tests that only load recipes
// link it alone. A new kind is one entry here, its class in objective.cc and its tests.
#pragma once

#include "recipes/recipe.h"

namespace vlm::worker {

extern const recipes::ObjectiveKind kLlavaObjective;  // "llava": caption / answer cross entropy
extern const recipes::ObjectiveKind kVdepObjective;   // "vdep": hybrid VDEP + LLaVA batches
extern const recipes::ObjectiveKind kVoraObjective;   // "vora": captions + block distillation

// All of them, llava (the default) first: what every caller of recipes::load() passes.
const recipes::ObjectiveCatalogue& objective_kinds();

}  // namespace vlm::worker
