#include "worker/engine_bench.h"

#include <fmt/format.h>

#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <memory>

#include "checkpoint/store.h"
#include "common/error.h"
#include "common/log.h"
#include "common/process_memory.h"
#include "models/model.h"
#include "sharding/caching_allocator.h"
#include "sharding/engine.h"
#include "worker/checkpointer.h"
#include "worker/objective.h"
#include "worker/schedule.h"
#include "worker/threads.h"

namespace vlm::worker {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds since construction or the previous lap.
class PhaseTimer {
 public:
  double lap() {
    const auto now = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  Clock::time_point last_ = Clock::now();
};

int64_t max_over_ranks(cluster::Communicator& comm, int64_t value) {
  return comm.all_reduce(value, cluster::ReduceOp::kMax);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A synchronous save of the engine's state into dir, then a resume from it (verify + load).
void time_checkpoint(const recipes::Recipe& recipe, const std::string& dir,
                     sharding::ShardedEngine& engine, cluster::Communicator& comm,
                     EngineBenchResult& result) {
  recipes::Recipe saving = recipe;
  saving.checkpoint.dir = dir;
  saving.checkpoint.async = false;
  Checkpointer checkpointer(saving, checkpoint::run_layout(saving, dir), comm, "");
  SavePoint at;
  at.stage_name = recipe.stages.front().name;
  at.step = 1;
  comm.barrier();
  auto start = Clock::now();
  checkpointer.save(engine, at, /*wait=*/true);
  comm.barrier();
  result.checkpoint_write_s = seconds_since(start);
  start = Clock::now();
  const std::optional<ResumePoint> point = checkpointer.find_resume();
  VLM_CHECK(point.has_value(), InternalError, "the checkpoint just saved in ", dir,
            " is not found");
  checkpointer.load(*point, engine);
  comm.barrier();
  result.checkpoint_resume_s = seconds_since(start);
  for (const auto& file : point->manifest.files) result.checkpoint_bytes += file.bytes;
}

}  // namespace

std::string EngineBenchResult::to_json() const {
  const auto mib = [](int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  return fmt::format(
      "{{\"stage\": {}, \"world_size\": {}, \"params\": {}, \"trainable_params\": {}, "
      "\"sent_bytes_per_step\": {}, \"ms_per_step\": {:.2f}, "
      "\"tokens_per_s\": {:.1f}, \"forward_ms\": {:.1f}, \"backward_ms\": {:.1f}, "
      "\"optimizer_ms\": {:.1f}, \"final_loss\": {:.6f}, \"baseline_rss_mb\": {:.1f}, "
      "\"peak_rss_mb\": {:.1f}, \"peak_above_baseline_mb\": {:.1f}, \"planned_mb\": {:.1f}, "
      "\"cache_misses_per_step\": {:.1f}, \"cache_mapped_mb\": {:.1f}, \"cache_peak_live_mb\": "
      "{:.1f}, \"checkpoint_bytes\": {}, \"checkpoint_write_s\": {:.3f}, "
      "\"checkpoint_resume_s\": {:.3f}}}",
      stage, world_size, params, trainable_params, sent_bytes_per_step, ms_per_step, tokens_per_s,
      forward_ms, backward_ms, optimizer_ms, final_loss, mib(baseline_rss), mib(peak_rss),
      mib(peak_above_baseline), mib(planned), cache_misses_per_step, mib(cache_mapped),
      mib(cache_peak_live), checkpoint_bytes, checkpoint_write_s, checkpoint_resume_s);
}

EngineBenchResult run_engine_bench(const recipes::Recipe& recipe, const EngineBenchOptions& options,
                                   cluster::Communicator& comm) {
  VLM_CHECK(!recipe.stages.empty(), ConfigError, recipe.source_path, ": the recipe has no stages");
  const recipes::Stage& stage = recipe.stages.front();
  VLM_CHECK(recipe.model.llm.vocab_size > 0, ConfigError, recipe.source_path,
            ": model.llm.vocab_size must be set (the benchmark has no tokenizer)");
  apply_threads(plan_threads(static_cast<int>(stage.training.num_threads), comm.size()));
  if (options.track_memory) process_memory::track_live_memory();
  if (options.caching_allocator && options.track_memory) {
    sharding::install_caching_cpu_allocator(0);  // no idle pages kept: resident = live
  } else if (options.caching_allocator) {
    sharding::install_caching_cpu_allocator(recipe.sharding);
  }
  EngineBenchResult result;
  result.stage = recipe.sharding.stage;
  result.world_size = comm.size();
  const int64_t baseline = process_memory::resident_bytes();

  models::VisionLanguageModel model(recipe.model, recipe.model.llm.vocab_size, stage.training.seed);
  model.set_trainable(stage.trainable);
  for (const auto& [name, param] : model.named_parameters()) {
    if (param.requires_grad()) result.trainable_params += param.numel();
  }
  const sharding::EngineOptions engine_opts =
      sharding::engine_options(recipe.sharding, stage, /*accumulation_steps=*/1);
  sharding::ShardedEngine engine(model, comm, engine_opts);
  sharding::release_idle_cpu_blocks();
  result.params = 0;
  for (const auto& [name, param] : model.named_parameters()) result.params += param.numel();
  result.planned = engine.memory_plan().total();
  if (comm.is_root()) log::info("{}", engine.memory_plan().describe());

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(stage.training.seed + comm.rank());
  const double tokens_per_step = static_cast<double>(comm.size() * options.batch * options.seq);
  model.train(true);
  Clock::time_point start;
  int64_t misses_before = 0;
  int64_t sent_before = 0;
  std::unique_ptr<torch::autograd::profiler::RecordProfile> trace;  // written when reset
  for (int64_t step = 0; step < options.warmup + options.steps; ++step) {
    if (step == options.warmup) {
      comm.barrier();
      if (options.track_memory) process_memory::track_live_memory();
      process_memory::reset_peak();
      misses_before = sharding::cpu_cache_stats().misses;  // and restarts its live peak
      sent_before = comm.traffic().bytes;
      start = Clock::now();
      if (!options.trace_prefix.empty()) {
        trace = std::make_unique<torch::autograd::profiler::RecordProfile>(
            fmt::format("{}{}.json", options.trace_prefix, comm.rank()));
      }
    }
    const at::Tensor ids = at::randint(recipe.model.llm.vocab_size, {options.batch, options.seq},
                                       gen, at::TensorOptions().dtype(at::kLong));
    const bool timed = step >= options.warmup;
    PhaseTimer timer;
    engine.begin_step(step);
    engine.begin_micro_batch(/*last=*/true);
    models::ModelInputs inputs;
    inputs.input_ids = ids;
    const at::Tensor loss = shifted_cross_entropy_sum(model.forward(inputs).logits, ids) /
                            (tokens_per_step - static_cast<double>(comm.size() * options.batch));
    if (timed) result.forward_ms += timer.lap();
    loss.backward();
    engine.end_micro_batch();
    if (timed) result.backward_ms += timer.lap();
    engine.clip_grad_norm(stage.optimizer.grad_clip);
    engine.optimizer_step(stage.optimizer.lr);
    if (timed) result.optimizer_ms += timer.lap();
    result.final_loss = comm.all_reduce(loss.item<double>(), cluster::ReduceOp::kSum);
  }
  comm.barrier();
  trace.reset();
  const double seconds = seconds_since(start);
  result.ms_per_step = 1000.0 * seconds / static_cast<double>(options.steps);
  for (double* phase : {&result.forward_ms, &result.backward_ms, &result.optimizer_ms}) {
    *phase = comm.all_reduce(*phase / static_cast<double>(options.steps), cluster::ReduceOp::kMax);
  }
  result.tokens_per_s = tokens_per_step * static_cast<double>(options.steps) / seconds;
  // The timed steps' own traffic: the loss and norm sums are host values, not counted.
  result.sent_bytes_per_step = max_over_ranks(
      comm, (comm.traffic().bytes - sent_before) / std::max<int64_t>(1, options.steps));
  const sharding::CpuCacheStats cache = sharding::cpu_cache_stats();
  result.cache_misses_per_step =
      static_cast<double>(cache.misses - misses_before) / static_cast<double>(options.steps);
  result.cache_mapped = max_over_ranks(comm, cache.mapped_bytes);
  result.cache_peak_live = max_over_ranks(comm, cache.peak_live_bytes);
  const int64_t peak = process_memory::peak_resident_bytes();
  result.baseline_rss = max_over_ranks(comm, baseline);
  result.peak_rss = max_over_ranks(comm, peak);
  result.peak_above_baseline = max_over_ranks(comm, peak - baseline);
  if (!options.checkpoint_dir.empty()) {
    time_checkpoint(recipe, options.checkpoint_dir, engine, comm, result);
  }
  return result;
}

}  // namespace vlm::worker
