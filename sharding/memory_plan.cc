#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "common/error.h"
#include "sharding/engine.h"
#include "sharding/flat_layout.h"

namespace vlm::sharding {

std::vector<UnitSize> unit_sizes(models::VisionLanguageModel& model) {
  std::map<std::string, at::Tensor> params;
  for (const auto& [name, param] : model.named_parameters()) params[name] = param;
  std::vector<UnitSize> sizes;
  for (const auto& unit : model.sharding_units()) {
    UnitSize size{unit.name};
    for (const auto& name : unit.param_names) {
      const at::Tensor& param = params.at(name);
      (param.requires_grad() ? size.trainable : size.frozen) += param.numel();
      if (param.requires_grad()) {
        size.largest_trainable_param = std::max(size.largest_trainable_param, param.numel());
      }
    }
    sizes.push_back(size);
  }
  return sizes;
}

MemoryPlan plan_memory(const std::vector<UnitSize>& units, const EngineOptions& options,
                       int world_size) {
  const int64_t stage = options.stage;
  const at::ScalarType compute_dtype = options.compute_dtype;
  const bool accumulates = options.accumulation_steps > 1;
  VLM_CHECK(stage >= 0 && stage <= 3, ConfigError, "sharding.stage must be 0, 1, 2 or 3, got ",
            stage);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(compute_dtype));
  const int64_t fp32 = 4;
  const int64_t parts = stage == 0 ? 1 : world_size;
  const bool masters = compute_dtype != at::kFloat;
  MemoryPlan plan;
  plan.stage = stage;
  plan.world_size = world_size;
  int64_t largest_trainable = 0;
  for (const auto& unit : units) {
    const int64_t trainable = padded_count(unit.trainable, world_size);
    const int64_t frozen = padded_count(unit.frozen, world_size);
    const int64_t full = (trainable + frozen) * elem;
    if (full > plan.largest_unit) {
      plan.largest_unit = full;
      plan.largest_unit_name = unit.name;
    }
    largest_trainable = std::max(largest_trainable, trainable * elem);
    // Autograd computes a parameter's gradient in full, then adds it to the flat buffer.
    plan.transient = std::max(plan.transient, unit.largest_trainable_param * elem);
    // Stage 3 keeps the rank's slice between gathers; of trainable parameters computed in bf16,
    // only the fp32 master (counted with the optimizer).
    plan.parameters += stage == 3 ? (masters ? frozen * elem : full) / world_size : full;
    // Stages 0 and 1 keep the full gradient (reduced once a step); 1-3 the owner's fp32 slice.
    if (stage <= 1) plan.gradients += trainable * elem;
    if (stage >= 1) plan.gradients += trainable / world_size * fp32;
    plan.optimizer += (masters ? 3 : 2) * trainable / parts * fp32;
  }
  // Stages 2 and 3 hold the full gradient of the unit in backward and of each one whose
  // reduction is in flight (reduced every micro batch); with accumulation, each in flight also
  // has a slice-sized buffer to add into the step's slice.
  if (stage >= 2) {
    plan.gradients += (1 + options.reductions_in_flight) * largest_trainable;
    if (accumulates) {
      plan.gradients += options.reductions_in_flight * largest_trainable / elem * fp32 / world_size;
    }
  }
  // Stage 3: the current unit, and the next one while it is prefetched.
  if (stage == 3) plan.gathered = (options.prefetch ? 2 : 1) * plan.largest_unit;
  return plan;
}

int64_t model_build_bytes(const std::vector<UnitSize>& units) {
  int64_t elements = 0, largest = 0;
  for (const auto& unit : units) {
    elements += unit.trainable + unit.frozen;
    largest = std::max(largest, unit.trainable + unit.frozen);
  }
  return (elements + largest) * 4;
}

std::string MemoryPlan::describe() const {
  const auto mib = [](int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  return fmt::format(
      "memory plan per rank (stage {}, {} rank(s)): parameters {:.1f} MiB, gradients {:.1f} MiB, "
      "optimizer state {:.1f} MiB, gathered units {:.1f} MiB (largest unit {}: {:.1f} MiB), "
      "transient gradient {:.1f} MiB, activations {:.1f} MiB; total {:.1f} MiB{}",
      stage, world_size, mib(parameters), mib(gradients), mib(optimizer), mib(gathered),
      largest_unit_name, mib(largest_unit), mib(transient), mib(activations), mib(total()),
      model_build > training_total()
          ? fmt::format(" (the model as built, before sharding: {:.1f} MiB)", mib(model_build))
          : std::string());
}

}  // namespace vlm::sharding
