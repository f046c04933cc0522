// Training steps of a recipe's model on random tokens, through the sharded engine: the
// measurement behind bench/engine.sh (throughput) and the memory plan's test (peak memory).
#pragma once

#include <cstdint>
#include <string>

#include "cluster/communicator.h"
#include "recipes/recipe.h"

namespace vlm::worker {

struct EngineBenchOptions {
  int64_t batch = 4;  // sequences per rank per step
  int64_t seq = 128;
  int64_t warmup = 3;
  int64_t steps = 20;
  // Resident sizes that follow live memory (process_memory::track_live_memory, and the caching
  // allocator keeps no idle pages), for checking the memory plan; it costs speed (fresh pages
  // for every large tensor).
  bool track_memory = false;
  // sharding/caching_allocator.h, as vlm-worker runs; off to compare with glibc's heap.
  bool caching_allocator = true;
  // After the timed steps: save a checkpoint here (synchronously) and resume from it, timed.
  std::string checkpoint_dir;
  // Non-empty: LibTorch's profiler records every operator of the timed steps, and rank r writes
  // a Chrome trace to <trace_prefix><r>.json (where a step's time goes, op by op).
  std::string trace_prefix;
};

struct EngineBenchResult {
  int64_t stage = 0;
  int world_size = 1;
  int64_t params = 0;
  int64_t trainable_params = 0;
  // Bytes a rank sent per timed step in the engine's collectives (Communicator::traffic), the
  // largest over ranks.
  int64_t sent_bytes_per_step = 0;
  double ms_per_step = 0;
  double tokens_per_s = 0;  // all ranks
  double final_loss = 0;
  // Per timed step, the slowest rank's: forward, backward (with its reductions), clipping and
  // the optimizer update (with publishing the parameters).
  double forward_ms = 0, backward_ms = 0, optimizer_ms = 0;
  // Bytes, the largest over ranks: resident memory before the model was built, and the peak
  // during the timed steps above it; the memory plan's prediction for one rank.
  int64_t baseline_rss = 0;
  int64_t peak_rss = 0;
  int64_t peak_above_baseline = 0;
  int64_t planned = 0;
  // The caching allocator's new mappings per timed step on rank 0 (0 once steps repeat their
  // shapes) and the bytes it holds at the end (the most over ranks).
  double cache_misses_per_step = 0;
  int64_t cache_mapped = 0;
  int64_t cache_peak_live = 0;  // large blocks held by tensors at once, the most over ranks
  // With checkpoint_dir: the checkpoint's bytes (all ranks), the time from the save's start to
  // its commit, and the time to find, verify and load it.
  int64_t checkpoint_bytes = 0;
  double checkpoint_write_s = 0, checkpoint_resume_s = 0;
  std::string to_json() const;
};

// Trains recipe.stages[0]'s trainable parts of recipe.model (text only: it gets no images) with
// recipe.sharding on random token sequences. Collective: every rank calls it.
EngineBenchResult run_engine_bench(const recipes::Recipe& recipe, const EngineBenchOptions& options,
                                   cluster::Communicator& comm);

}  // namespace vlm::worker
