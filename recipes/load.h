// Loading a recipe: YAML file -> presets applied -> --set overrides -> typed, validated Recipe.
#pragma once

#include <string>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::recipes {

// overrides are "a.b.c=value" strings from --set; "stages.1.optimizer.lr=2e-5" indexes lists
// ("stages[1].optimizer.lr=2e-5", as messages print keys, works too). The value is YAML:
// "trainable=[projector,llm]" sets a list.
// Throws ConfigError naming the file, the key and (where known) the line, or the override.
// Fills source_path and resolved_yaml (= dump()). `objectives` are the stages[].objective words
// the recipe may use (worker::objective_kinds()); each stage points into it.
Recipe load(const std::string& path, const ObjectiveCatalogue& objectives,
            const std::vector<std::string>& overrides = {});
// Same, from YAML text (source_name appears in messages).
Recipe load_text(const std::string& yaml, const std::string& source_name,
                 const ObjectiveCatalogue& objectives,
                 const std::vector<std::string>& overrides = {});

// The resolved recipe as YAML (every key, presets expanded); load_text(dump(r)) gives r again.
std::string dump(const Recipe& recipe);

// Whether two recipes hold the same settings, field by field (source_path and resolved_yaml are
// not settings).
bool equivalent(const Recipe& a, const Recipe& b);

// Preset model shapes: "tiny", "vicuna-7b+clip-vit-l-336", "qwen2.5-7b+aimv2-huge-448".
// Throws ConfigError listing the known names for any other.
ModelSection preset(const std::string& name);

}  // namespace vlm::recipes
