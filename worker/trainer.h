// The training loop: for each stage of the recipe, build its loader and optimizer, run its steps,
// export the model. The straight line of ARCHITECTURE.md.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "checkpoint/run_layout.h"
#include "cluster/communicator.h"
#include "cluster/world.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "monitor/run_observer.h"
#include "monitor/stage_summary.h"
#include "recipes/recipe.h"
#include "worker/objective.h"

namespace vlm::worker {

struct StageResult {
  bool preempted = false;         // stopped by a preemption signal, saved
  int64_t steps = 0;              // the stage's steps (a preempted stage did fewer)
  monitor::StageSummary summary;  // the stage's name and the steps this process ran
};

struct TrainOptions {
  std::string resume_path;  // a checkpoint directory; empty: the run's newest valid one, if any
  // The name of a stage to stop after (its model exported, its last checkpoint committed); empty:
  // run every stage. Running again without it continues with the next stage.
  std::string stop_after_stage;
};

struct TrainOutcome {
  std::vector<StageResult> stages;  // those run (in part) by this process
  bool preempted = false;           // saved after a preemption signal: requeue and resume
  bool stopped_early = false;       // ended after TrainOptions::stop_after_stage
};

// Runs every stage of the recipe, resuming from a checkpoint when there is one; checkpoints
// every checkpoint.every_steps and at the end of each stage; exports each earlier stage's model
// to layout.stage_model() and the last one's to layout.final_model(). comm is the run's
// communicator (open_run_communicator); observer is told of stages, steps and checkpoints.
TrainOutcome train(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
                   const cluster::World& world, cluster::Communicator& comm,
                   monitor::RunObserver& observer, const TrainOptions& options = {});

// Sequences per rank per micro batch: training.micro_batch_size, or the global batch split over
// the ranks; ConfigError when the global batch is not a whole number of micro batches.
int64_t micro_batch_size(const recipes::TrainingSection& training, int world_size);

// Steps a stage takes: training.max_steps when set, else floor(epochs * samples / global batch).
int64_t stage_steps(const recipes::TrainingSection& training, int64_t samples_per_epoch);

}  // namespace vlm::worker
