#include "coordinator/run_setup.h"

#include "common/files.h"

namespace vlm::coordinator {

checkpoint::RunLayout prepare_run(const recipes::Recipe& recipe) {
  checkpoint::RunLayout layout{recipe.run_dir};
  files::make_directories(layout.root);
  files::write_atomically(layout.recipe_yaml(), recipe.resolved_yaml);
  return layout;
}

}  // namespace vlm::coordinator
