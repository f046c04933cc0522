// Where a run keeps its files. One definition, so the worker, vlm-eval and the checkpoint code
// agree on the layout of a run directory.
#pragma once

#include <string>

namespace vlm::checkpoint {

struct RunLayout {
  std::string root;

  std::string recipe_yaml() const { return root + "/recipe.yaml"; }      // resolved recipe
  std::string metrics_jsonl() const { return root + "/metrics.jsonl"; }  // one line per step
  std::string tensorboard() const { return root + "/tensorboard"; }      // event files, rank 0
  std::string final_model() const { return root + "/final"; }  // the last stage's HF-layout export
  // Earlier stages' exports (the last stage's is final_model()).
  std::string stage_model(const std::string& stage) const { return root + "/stages/" + stage; }
  std::string checkpoints() const { return root + "/checkpoints"; }
};

}  // namespace vlm::checkpoint
