// Saving and resuming a run's training state through checkpoint/: what the trainer calls at step
// boundaries. Every method is collective: all ranks call it at the same step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/manifest.h"
#include "checkpoint/run_layout.h"
#include "checkpoint/save.h"
#include "checkpoint/store.h"
#include "cluster/communicator.h"
#include "monitor/run_observer.h"
#include "recipes/recipe.h"
#include "sharding/engine.h"

namespace vlm::worker {

// Where in the run a checkpoint is taken.
struct SavePoint {
  int64_t stage_index = 0;
  std::string stage_name;
  uint64_t stage_seed = 0;
  int64_t step = 0;           // optimizer steps done in the stage
  int64_t global_sample = 0;  // the stage's loader counter after those steps
  std::map<std::string, double> counters;
};

struct ResumePoint {
  std::string dir;
  checkpoint::Manifest manifest;
};

class Checkpointer {
 public:
  // resume_path: a checkpoint directory to resume from (--resume); empty: the newest valid one
  // in the run's checkpoint directory, if any. observer (optional) hears of every checkpoint
  // committed and of the one resumed from, on rank 0.
  Checkpointer(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
               cluster::Communicator& comm, std::string resume_path,
               monitor::RunObserver* observer = nullptr);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // The checkpoint to resume from, verified: rank 0 picks it (skipping damaged ones with a
  // warning that names the file), every rank gets the same answer.
  std::optional<ResumePoint> find_resume();
  // Loads a checkpoint into the engine (ShapeError when it was written for another model).
  void load(const ResumePoint& from, sharding::ShardedEngine& engine) const;

  // Saves the engine's state as it is now. The step loop is blocked only while the state is
  // copied (returned, in milliseconds); a thread writes this rank's file, and a later poll()
  // commits. wait: write and commit before returning (preemption, stage ends).
  double save(const sharding::ShardedEngine& engine, const SavePoint& at, bool wait);
  // At a step boundary: commits the save in progress once every rank has written its file.
  void poll();
  // Waits for the save in progress, if any, and commits it.
  void finish();
  int64_t every_steps() const { return recipe_.checkpoint.every_steps; }

 private:
  void commit(bool wait);
  void tell_committed(const std::string& dir, const checkpoint::Manifest& manifest) const;

  checkpoint::CheckpointStore::ManifestCheck matches_recipe() const;

  const recipes::Recipe& recipe_;
  cluster::Communicator& comm_;
  std::string root_;
  std::string resume_path_;
  monitor::RunObserver* observer_;
  std::unique_ptr<checkpoint::PendingSave> pending_;
};

}  // namespace vlm::worker
