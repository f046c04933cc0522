// The sharded engine: FSDP-style flat parameter units and ZeRO-partitioned optimizer state.
//
// Each sharding unit the model declares becomes up to two flat buffers (trainable, frozen), laid
// out in the model's parameter order and padded to a multiple of the world size; rank r owns the
// contiguous slice [r * n / W, (r + 1) * n / W). The layout depends only on the model, never on
// the world size (apart from the padding at the end).
//
//   stage 0: everything replicated; gradients all-reduced (plain data parallelism).
//   stage 1: parameters and gradients replicated; fp32 masters and AdamW moments partitioned.
//   stage 2: as 1, and gradients reduce-scattered to their owners unit by unit during backward,
//            every micro batch (accumulated in the owner's fp32 slice).
//   stage 3: parameters partitioned too: gathered just before a unit's forward, freed after,
//            gathered again when its backward starts; the next unit's gather is prefetched.
// Frozen buffers have no gradient, no reduction and no optimizer state.
// Mixed precision (compute dtype bf16): parameters and gradients live in bf16, masters and
// moments in fp32, gradients are reduced in fp32.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/communicator.h"
#include "models/model.h"
#include "recipes/recipe.h"
#include "state/flat_slice.h"

namespace vlm::sharding {

struct EngineOptions {
  int64_t stage = 0;
  at::ScalarType compute_dtype = at::kFloat;
  recipes::OptimizerSection optimizer;
  bool prefetch = true;            // stage 3: gather the next unit while this one computes
  int64_t accumulation_steps = 1;  // micro batches per step (for the memory plan)
  bool recompute_blocks = false;   // activation checkpointing of every transformer block
  // Stages 1-3: reductions left running while backward goes on (each holds a unit's gradient).
  int64_t reductions_in_flight = 1;
};

// The options a recipe stage and its sharding section ask for.
EngineOptions engine_options(const recipes::ShardingSection& sharding, const recipes::Stage& stage,
                             int64_t accumulation_steps);

// Bytes one rank holds, by kind, for a stage and world size; computed before allocating.
struct MemoryPlan {
  int64_t stage = 0;
  int world_size = 1;
  int64_t parameters = 0;    // compute-dtype parameters resident between steps
  int64_t gradients = 0;     // gradient buffers resident between micro steps
  int64_t optimizer = 0;     // fp32 masters (mixed precision only) + AdamW m and v
  int64_t gathered = 0;      // transient full units (stage 3: current + prefetched)
  int64_t transient = 0;     // a parameter's fresh gradient before it is accumulated
  int64_t largest_unit = 0;  // bytes of the largest unit when gathered
  std::string largest_unit_name;
  // Set by callers that know them (the engine's own plan leaves them 0): a micro batch's
  // activations (models/activation_memory.h), and the whole model as every rank builds it before
  // the engine takes it over (model_build_bytes).
  int64_t activations = 0;
  int64_t model_build = 0;
  int64_t training_total() const {
    return parameters + gradients + optimizer + gathered + transient + activations;
  }
  int64_t total() const { return std::max(training_total(), model_build); }
  std::string describe() const;  // one line per kind, in MiB
};

// The model's units with their parameter counts: what the plan is computed from.
struct UnitSize {
  std::string name;
  int64_t trainable = 0;  // elements
  int64_t frozen = 0;
  int64_t largest_trainable_param = 0;  // elements of its largest trainable parameter
};
std::vector<UnitSize> unit_sizes(models::VisionLanguageModel& model);
MemoryPlan plan_memory(const std::vector<UnitSize>& units, const EngineOptions& options,
                       int world_size);
// The model as built (fp32) plus the largest unit's flat buffer the engine copies it into.
int64_t model_build_bytes(const std::vector<UnitSize>& units);

class ShardedEngine {
 public:
  // Takes over the model's parameters: they become views into the engine's flat buffers (or,
  // at stage 3, are empty between uses). Call after LoRA and set_trainable; the model must stay
  // alive and keep its parameter set while the engine exists.
  ShardedEngine(models::VisionLanguageModel& model, cluster::Communicator& comm,
                EngineOptions options);
  ~ShardedEngine();
  ShardedEngine(const ShardedEngine&) = delete;
  ShardedEngine& operator=(const ShardedEngine&) = delete;

  // A step: begin_step, then for each micro batch begin_micro_batch(last), forward, backward(),
  // end_micro_batch(); then clip_grad_norm and optimizer_step.
  void begin_step(int64_t step);
  // Gradients are reduced only on the last micro batch of a step.
  void begin_micro_batch(bool last);
  void end_micro_batch();
  // The norm of the whole gradient across all shards; scales gradients down to max_norm when it
  // is larger (max_norm <= 0: no clipping). Returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  void optimizer_step(double lr);

  // Every parameter, full and replicated, as one name -> tensor map (gathers at stage 3): for
  // export and equivalence tests. Collective: every rank must call it.
  std::vector<std::pair<std::string, at::Tensor>> full_parameters();
  // Restores the model's parameters as live tensors (gathers at stage 3) and detaches the engine
  // from the model, e.g. before exporting or evaluating at the end of a stage.
  void release_to_model();

  // Drops the gradients of a step that will not be applied (a non-finite loss or norm).
  void skip_step();

  // Checkpoints. Each rank owns a contiguous share of every trainable buffer (its optimizer
  // slice at stages 1-3; the same partition at stage 0): snapshot_state copies it, so training
  // may go on while the copy is written. buffer_layout names every buffer with its parameters.
  // copy false: views of the live state, for a caller that writes them before the next step.
  std::vector<state::FlatSlice> snapshot_state(bool copy = true) const;
  std::vector<state::BufferLayout> buffer_layout() const;
  // Replaces the trainable weights and moments with saved ones (written at any world size) and
  // publishes the weights to every rank. Collective.
  void load_state(const state::SliceReader& read, int64_t optimizer_steps);
  int64_t optimizer_steps() const;

  const MemoryPlan& memory_plan() const;
  int64_t trainable_count() const;

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace vlm::sharding
