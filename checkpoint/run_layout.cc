#include "checkpoint/run_layout.h"

#include "common/files.h"

namespace vlm::checkpoint {

RunLayout prepare_run_directory(const recipes::Recipe& recipe, bool coordinator) {
  RunLayout layout = run_layout(recipe, recipe.run_dir);
  files::make_directories(layout.root);
  // One writer: ranks that all wrote through the same temporary name would race on it.
  if (coordinator) files::write_atomically(layout.recipe_yaml(), recipe.resolved_yaml);
  return layout;
}

}  // namespace vlm::checkpoint
