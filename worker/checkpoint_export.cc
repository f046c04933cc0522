#include "worker/checkpoint_export.h"

#include "checkpoint/manifest.h"
#include "checkpoint/model_export.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "data/loader.h"
#include "data/run_tokenizer.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "recipes/load.h"
#include "sharding/engine.h"
#include "worker/checkpointer.h"
#include "worker/objective_kinds.h"
#include "worker/trainer.h"

namespace vlm::worker {

void export_checkpoint(const std::string& checkpoint_dir, const std::string& out_folder,
                       cluster::Communicator& comm) {
  const std::string manifest_path = files::join(checkpoint_dir, checkpoint::kManifestName);
  ResumePoint point{checkpoint_dir, checkpoint::read_manifest(manifest_path)};
  const recipes::Recipe recipe = recipes::load_text(
      point.manifest.recipe_yaml, manifest_path + " (its recipe)", objective_kinds());
  const recipes::Stage& first = recipe.stages.front();
  const auto tokenizer = data::load_run_tokenizer(recipe);
  models::VisionLanguageModel model(recipe.model, tokenizer->vocab_size(), first.training.seed);
  const auto stage_index = static_cast<size_t>(point.manifest.stage_index);
  VLM_CHECK(stage_index < recipe.stages.size(), FormatError, manifest_path, ": stage_index ",
            stage_index, " but its recipe has ", recipe.stages.size(), " stage(s)");
  for (size_t i = 0; i <= stage_index; ++i) {
    prepare_model(model, recipe.stages[i],
                  [&](const std::string& token) { return tokenizer->special_id(token); });
    if (i < stage_index) finish_model(model, recipe.stages[i]);
  }

  // One process holds everything: stage 0 of a world of one.
  recipes::ShardingSection whole = recipe.sharding;
  whole.stage = 0;
  sharding::ShardedEngine engine(model, comm,
                                 sharding::engine_options(whole, recipe.stages[stage_index], 1));
  const Checkpointer checkpointer(recipe, checkpoint::run_layout(recipe, ""), comm, "");
  checkpointer.load(point, engine);
  engine.release_to_model();
  // An export is a finished model: separate token rows go back into the table.
  model.fold_token_embeddings();
  checkpoint::export_model(model, out_folder);
  log::info("exported {} (stage '{}' step {}) to {}", checkpoint_dir, point.manifest.stage_name,
            point.manifest.step, out_folder);
}

}  // namespace vlm::worker
