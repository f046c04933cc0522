// The one place where a parsed recipe's values are checked: each field against its rule in
// schema.h, then the rules that tie fields together.
#pragma once

#include "recipes/origins.h"
#include "recipes/recipe.h"

namespace vlm::recipes {

// Throws ConfigError naming where the offending value came from. `objectives`: the catalogue the
// recipe was loaded with (their own trainable parts).
void validate(const Recipe& recipe, const Origins& origins, const ObjectiveCatalogue& objectives);

}  // namespace vlm::recipes
