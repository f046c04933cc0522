// Where a run keeps its files. One definition, so the worker, vlm-eval and the checkpoint code
// agree on the layout of a run directory.
#pragma once

#include <string>
#include <utility>

#include "recipes/recipe.h"

namespace vlm::checkpoint {

struct RunLayout {
  std::string root;
  std::string checkpoint_dir;  // the recipe's checkpoint.dir; empty: <root>/checkpoints

  std::string recipe_yaml() const { return root + "/recipe.yaml"; }      // resolved recipe
  std::string metrics_jsonl() const { return root + "/metrics.jsonl"; }  // one line per step
  std::string tensorboard() const { return root + "/tensorboard"; }      // event files, rank 0
  std::string final_model() const { return root + "/final"; }  // the last stage's HF-layout export
  // Earlier stages' exports (the last stage's is final_model()).
  std::string stage_model(const std::string& stage) const { return root + "/stages/" + stage; }
  std::string checkpoints() const {
    return checkpoint_dir.empty() ? root + "/checkpoints" : checkpoint_dir;
  }
};

// The layout of a run of `recipe` in `root` (its run_dir, or an earlier run's directory).
inline RunLayout run_layout(const recipes::Recipe& recipe, std::string root) {
  return {std::move(root), recipe.checkpoint.dir};
}

// The layout of the recipe's run_dir: creates the directory, and on the coordinator (one writer)
// stores the resolved recipe as recipe.yaml, atomically.
RunLayout prepare_run_directory(const recipes::Recipe& recipe, bool coordinator);

}  // namespace vlm::checkpoint
