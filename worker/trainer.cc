#include "worker/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "checkpoint/model_export.h"
#include "cluster/communicator.h"
#include "common/error.h"
#include "common/log.h"
#include "common/process_memory.h"
#include "data/conversation.h"
#include "data/loader.h"
#include "data/run_tokenizer.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "sharding/caching_allocator.h"
#include "sharding/engine.h"
#include "worker/batch_tensors.h"
#include "worker/checkpointer.h"
#include "worker/model_flops.h"
#include "worker/objective.h"
#include "worker/placement.h"
#include "worker/preemption.h"
#include "worker/run_plan.h"
#include "worker/schedule.h"
#include "worker/threads.h"

namespace vlm::worker {
namespace {

using monitor::RunObserver;
using monitor::StageStart;
using monitor::StepMetrics;

using Clock = std::chrono::steady_clock;

// A checkpoint's count of the steps before its stage, so a resumed run's steps keep their
// run-global numbers without rebuilding the earlier stages' loaders.
constexpr const char* kRunStepsBeforeStage = "run_steps_before_stage";

// Test hook (tests/e2e/ckpt_lib.sh's preempt_at, test_status_endpoint.sh): each step is followed
// by this many milliseconds of sleep, so that a signal sent once a step is logged lands while the
// stage still has steps to run, and a probe finds the run training, however fast the steps are.
std::chrono::milliseconds test_step_delay() {
  const char* value = std::getenv("VLM_TEST_STEP_DELAY_MS");
  return std::chrono::milliseconds(value == nullptr || *value == '\0' ? 0 : std::atoll(value));
}

// Debug hook (tests/e2e/test_vdep_split_reference.sh): with VLM_TRACE_ROWS=PREFIX each rank
// appends a JSON line per row it trains to PREFIX.rank<r>.jsonl, so that a script of its own can
// check which sample, in which mode and with how many labelled tokens, each global position held.
class RowTrace {
 public:
  explicit RowTrace(int rank) {
    const char* prefix = std::getenv("VLM_TRACE_ROWS");
    if (prefix == nullptr || *prefix == '\0') return;
    const std::string path = std::string(prefix) + ".rank" + std::to_string(rank) + ".jsonl";
    out_.open(path, std::ios::app);
    VLM_CHECK(out_.good(), IoError, "VLM_TRACE_ROWS: cannot open ", path);
  }

  void write(const std::string& stage, int64_t step, const data::Batch& batch) {
    if (!out_.is_open()) return;
    for (int64_t row = 0; row < batch.batch_size; ++row) {
      const auto first = batch.labels.begin() + row * batch.seq_len;
      // As Batch::label_tokens: position 0's label is never predicted.
      const auto labelled = std::count_if(first + 1, first + batch.seq_len, [](int64_t label) {
        return label != data::kIgnoreLabel;
      });
      const auto at = static_cast<size_t>(row);
      out_ << fmt::format(
          "{{\"stage\": \"{}\", \"step\": {}, \"position\": {}, \"sample\": {}, \"vdep\": {}, "
          "\"label_tokens\": {}}}\n",
          stage, step, batch.positions[at], batch.sample_indices[at], int{batch.vdep_rows[at]},
          labelled);
    }
    out_.flush();
    VLM_CHECK(out_.good(), IoError, "VLM_TRACE_ROWS: a write failed");
  }

 private:
  std::ofstream out_;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Where a stage's step time goes, summed over its steps: logged at the stage's end, so a slow
// step can be traced to the loader, the model or the engine without a profiler.
class StepPhases {
 public:
  enum Phase { kBatches, kForward, kBackward, kReductions, kOptimizer, kCount };

  // Adds the time since the previous mark (or the step's start) to `phase`.
  void mark(Phase phase) {
    const auto now = Clock::now();
    seconds_[phase] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  void start_step() {
    last_ = Clock::now();
    ++steps_;
  }
  std::string describe() const {
    static constexpr const char* kNames[kCount] = {"batches", "forward", "backward",
                                                   "reductions+clip", "optimizer"};
    double total = 0;
    for (const double s : seconds_) total += s;
    std::string text =
        fmt::format("{:.1f} ms per step", 1e3 * total / std::max<int64_t>(1, steps_));
    for (int i = 0; i < kCount; ++i) {
      text += fmt::format(", {} {:.1f} ms ({:.0f}%)", kNames[i],
                          1e3 * seconds_[i] / std::max<int64_t>(1, steps_),
                          total > 0 ? 100.0 * seconds_[i] / total : 0.0);
    }
    return text;
  }

 private:
  double seconds_[kCount] = {};
  int64_t steps_ = 0;
  Clock::time_point last_ = Clock::now();
};

// The random state of a step: a function of the seed and counters only, so a resumed run draws
// what the uninterrupted one drew (dropout) with nothing to save.
uint64_t step_seed(uint64_t seed, int64_t stage_index, int64_t step, int rank) {
  uint64_t x = seed;
  for (const uint64_t part : {static_cast<uint64_t>(stage_index), static_cast<uint64_t>(step),
                              static_cast<uint64_t>(rank)}) {
    x = (x ^ part) * 0x9E3779B97F4A7C15ULL;  // splitmix64's constant and finalizer
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
  }
  return x;
}

TokenIdOf token_id_of(const data::Tokenizer& tokenizer) {
  return [&tokenizer](const std::string& token) { return tokenizer.special_id(token); };
}

// FLOP/s all ranks can do together, for MFU.
struct PeakFlops {
  double flops = 0.0;
  bool measured = false;
};

// training.peak_tflops_per_rank x ranks; 0 there: each rank times a matmul once (with the
// threads it trains with, all at the same time, as they train) and the sum is the peak.
class PeakFlopsSource {
 public:
  explicit PeakFlopsSource(cluster::Communicator& comm) : comm_(comm) {}
  PeakFlops for_stage(const recipes::TrainingSection& training) {
    if (training.peak_tflops_per_rank > 0) {
      return {training.peak_tflops_per_rank * 1e12 * comm_.size(), false};
    }
    double& measured = measured_[training.dtype];
    if (measured <= 0) {
      std::vector<double> gflops{measure_matmul_gflops(1024, 3, training.dtype)};
      comm_.all_reduce(gflops, cluster::ReduceOp::kSum);
      measured = gflops[0] * 1e9;
      log::info(
          "MFU: peak {:.1f} GFLOP/s per rank measured ({} 1024^3 matmul, best of 3, all ranks "
          "at once) x {} rank(s); set training.peak_tflops_per_rank for the hardware's figure",
          gflops[0] / comm_.size(), recipes::name_of(training.dtype), comm_.size());
    }
    return {measured, true};
  }

 private:
  cluster::Communicator& comm_;
  std::map<recipes::ComputeDtype, double> measured_;  // per compute dtype: bf16 peaks apart
};

// Where a stage sits in the run.
struct StagePlace {
  int64_t index = 0;
  int64_t count = 1;
  int64_t run_steps_before = 0;  // steps of the earlier stages
};

// Everything one stage needs, built from its sections.
class StageRunner {
 public:
  StageRunner(const recipes::Stage& stage, const StagePlace& place, PeakFlops peak,
              const recipes::ShardingSection& sharding, models::VisionLanguageModel& model,
              std::shared_ptr<const data::Tokenizer> tokenizer, const cluster::World& world,
              cluster::Communicator& comm, Checkpointer& checkpointer, RunObserver& observer)
      : stage_(stage),
        stage_index_(place.index),
        stage_count_(place.count),
        run_steps_before_(place.run_steps_before),
        peak_(peak),
        model_(model),
        device_(model.named_parameters().front().second.device()),
        world_(world),
        comm_(comm),
        checkpointer_(checkpointer),
        observer_(observer) {
    prepare_model(model_, stage, token_id_of(*tokenizer));
    objective_ = make_objective(stage, model_);
    micro_batch_ = micro_batch_size(stage.training, world.world_size);
    accumulation_ = stage.training.global_batch_size / (micro_batch_ * world.world_size);
    engine_ = make_engine(sharding);
    sharding::release_idle_cpu_blocks();  // the model's set-up copies
    loader_ = std::make_unique<data::Loader>(loader_options(), std::move(tokenizer));
    total_steps_ = stage_steps(stage.training, loader_->samples_per_epoch());
  }

  // From the start, or from `resume` (a checkpoint of this stage).
  StageResult run(const ResumePoint* resume) {
    int64_t first_step = 0;
    if (resume != nullptr) {
      checkpointer_.load(*resume, *engine_);
      first_step = resume->manifest.step;
      const auto skipped = resume->manifest.counters.find("skipped_steps");
      if (skipped != resume->manifest.counters.end()) {
        skipped_steps_ = static_cast<int64_t>(skipped->second);
      }
    }
    log::info(
        "stage '{}': {} steps, global batch {} = {} rank(s) x {} micro x {} accumulation, "
        "{} samples per epoch, {} trainable parameters",
        stage_.name, total_steps_, stage_.training.global_batch_size, world_.world_size,
        micro_batch_, accumulation_, loader_->samples_per_epoch(), engine_->trainable_count());
    loader_->seek(first_step * stage_.training.global_batch_size);
    flops_per_token_ = model_flops_per_token();
    cache_at_start_ = sharding::cpu_cache_stats();
    observer_.stage_started(stage_start(first_step));
    model_.train(true);
    StageResult result;
    result.summary.stage = stage_.name;
    for (int64_t step = first_step; step < total_steps_; ++step) {
      StepMetrics m = train_step(step);
      checkpointer_.poll();
      const int64_t every = checkpointer_.every_steps();
      // Not in a run of skipped steps: the state may be diverging.
      const bool periodic =
          every > 0 && (step + 1) % every == 0 && step + 1 < total_steps_ && !m.skipped;
      if (m.preempted || periodic) {
        observer_.checkpoint_started({stage_.name, step + 1, m.preempted});
        m.checkpoint_blocked_ms =
            checkpointer_.save(*engine_, save_point(step + 1), /*wait=*/m.preempted);
      }
      observer_.step_done(m);
      stop_if_diverged(step);
      if (step_delay_.count() > 0) std::this_thread::sleep_for(step_delay_);
      if (m.preempted) {
        log::warn("{} step {}/{}: preemption signal; saved, exiting for a requeue", stage_.name,
                  step + 1, total_steps_);
        result.preempted = true;
        break;
      }
      result.summary.add(m);
    }
    // The stage's end is a checkpoint: a later stage resumes from it.
    if (!result.preempted && first_step < total_steps_) {
      observer_.checkpoint_started({stage_.name, total_steps_, false});
      checkpointer_.save(*engine_, save_point(total_steps_), /*wait=*/true);
    }
    checkpointer_.finish();
    log_step_phases();
    log_peak_memory();
    result.steps = total_steps_;
    if (!result.preempted) engine_->release_to_model();
    return result;
  }

 private:
  StageStart stage_start(int64_t first_step) const {
    StageStart start;
    start.stage = stage_.name;
    start.stage_index = stage_index_;
    start.stage_count = stage_count_;
    start.first_step = first_step;
    start.total_steps = total_steps_;
    start.global_batch_size = stage_.training.global_batch_size;
    start.run_steps_before = run_steps_before_;
    start.flops_per_token = flops_per_token_;
    start.peak_flops = peak_.flops;
    start.peak_measured = peak_.measured;
    return start;
  }

  double model_flops_per_token() const {
    std::map<std::string, ParameterFacts> parameters;
    for (const auto& [name, tensor] : model_.named_parameters()) {
      parameters[name] = {tensor.numel(), tensor.requires_grad(), is_lookup_table(name)};
    }
    return training_flops_per_token(model_.sharding_units(), parameters);
  }

  SavePoint save_point(int64_t steps_done) const {
    SavePoint at;
    at.stage_index = stage_index_;
    at.stage_name = stage_.name;
    at.stage_seed = stage_.training.seed;
    at.step = steps_done;
    at.global_sample = steps_done * stage_.training.global_batch_size;
    at.counters["skipped_steps"] = static_cast<double>(skipped_steps_);
    at.counters[kRunStepsBeforeStage] = static_cast<double>(run_steps_before_);
    return at;
  }

  data::LoaderOptions loader_options() const {
    data::LoaderOptions options;
    options.data = stage_.data;
    options.seed = stage_.training.seed;
    options.image_size = model_.config().vision.image_size;
    options.vision_folder = model_.config().vision.hf_path;
    options.image_tokens = model_.image_tokens_per_image();
    options.batch_size = micro_batch_;
    options.global_batch_size = stage_.training.global_batch_size;
    options.rank = world_.rank;
    options.world_size = world_.world_size;
    objective_->configure_loader(options);
    return options;
  }

  // Plans the memory before the engine allocates, and refuses a plan over the budget.
  std::unique_ptr<sharding::ShardedEngine> make_engine(const recipes::ShardingSection& sharding) {
    const sharding::EngineOptions options =
        sharding::engine_options(sharding, stage_, accumulation_);
    const sharding::MemoryPlan plan =
        plan_stage(sharding, stage_, model_, world_.world_size).memory;
    if (world_.is_coordinator()) log::info("stage '{}': {}", stage_.name, plan.describe());
    planned_bytes_ = plan.total();
    const double budget = sharding.max_memory_per_rank_mib * 1024.0 * 1024.0;
    VLM_CHECK(budget <= 0 || static_cast<double>(plan.total()) <= budget, ConfigError, "stage '",
              stage_.name, "' needs ", static_cast<double>(plan.total()) / (1024.0 * 1024.0),
              " MiB per rank by the memory plan but sharding.max_memory_per_rank_mib is ",
              sharding.max_memory_per_rank_mib, ": ", plan.describe(),
              ". Use a higher sharding.stage, more ranks, or a larger budget");
    return std::make_unique<sharding::ShardedEngine>(model_, comm_, options);
  }

  // Rank 0's step time by phase, and how often in this stage a large host tensor needed fresh pages
  // (a miss of the caching allocator: a new mapping, page faults on first touch).
  void log_step_phases() const {
    if (!world_.is_coordinator()) return;
    const sharding::CpuCacheStats cache = sharding::cpu_cache_stats();
    log::info("stage '{}' on rank 0: {}; large host blocks: {} reused, {} mapped anew", stage_.name,
              phases_.describe(), cache.hits - cache_at_start_.hits,
              cache.misses - cache_at_start_.misses);
  }

  // Every rank's peak resident memory so far (VmHWM) next to the plan: what a user sizes the
  // next run by, and what bench/real_width.sh compares with vlm-worker --plan.
  void log_peak_memory() {
    const auto peaks =
        comm_.all_gather(std::vector<int64_t>{process_memory::peak_resident_bytes()});
    if (!world_.is_coordinator()) return;
    const auto gib = [](int64_t bytes) { return static_cast<double>(bytes) / (1 << 30); };
    std::string text;
    for (const auto& peak : peaks) {
      text += fmt::format("{}{:.2f}", text.empty() ? "" : " ", gib(peak.at(0)));
    }
    log::info("stage '{}': peak resident memory per rank (GiB): {}; memory plan {:.2f} GiB",
              stage_.name, text, gib(planned_bytes_));
  }

  // A failed collective says at which step it failed (the engine's also name their unit).
  StepMetrics train_step(int64_t step) {
    try {
      return run_step(step);
    } catch (const CommError& e) {
      VLM_THROW(CommError, "stage '", stage_.name, "' step ", step + 1, ": ", e.what());
    }
  }

  StepMetrics run_step(int64_t step) {
    const auto start = Clock::now();
    phases_.start_step();
    at::manual_seed(step_seed(stage_.training.seed, stage_index_, step, world_.rank));
    // All micro batches first: each loss term is normalized by its token count over all ranks
    // and micro batches, so it does not depend on how the global batch is split.
    const bool bidirectional = model_.config().vision_mask == recipes::VisionMask::kBidirectional;
    const size_t terms = objective_->terms().size();
    std::vector<TensorBatch> micro_batches;
    // Each term's count, then the rows left out of the loss and all rows, reduced together.
    std::vector<double> counts(terms + 2, 0.0);
    for (int64_t i = 0; i < accumulation_; ++i) {
      const data::Batch batch = loader_->next();
      row_trace_.write(stage_.name, step + 1, batch);
      micro_batches.push_back(to_tensors(batch, bidirectional, device_));
      const std::vector<double> batch_counts = objective_->counts(micro_batches.back());
      for (size_t t = 0; t < terms; ++t) counts[t] += batch_counts[t];
      counts[terms] += static_cast<double>(batch.rows_left_out);
      counts[terms + 1] += static_cast<double>(batch.batch_size);
    }
    phases_.mark(StepPhases::kBatches);
    comm_.all_reduce(counts, cluster::ReduceOp::kSum);  // waits for the slowest rank's batches
    phases_.mark(StepPhases::kReductions);
    stop_if_most_rows_left_out(step, counts[terms], counts[terms + 1]);
    counts.resize(terms);
    // A term without tokens in this step (say, no VDEP-mode row) adds nothing.
    std::vector<double> scales(terms, 0.0);
    for (size_t t = 0; t < terms; ++t) {
      if (counts[t] > 0) scales[t] = objective_->weights()[t] / counts[t];
    }
    engine_->begin_step(step);
    // Term sums, then tokens and the ranks that got a preemption signal: all agree at this
    // boundary.
    std::vector<double> sums(terms + 2, 0.0);
    for (size_t i = 0; i < micro_batches.size(); ++i) {
      const auto& batch = micro_batches[i];
      engine_->begin_micro_batch(i + 1 == micro_batches.size());
      const models::ModelOutputs outputs =
          model_.forward(batch.inputs, objective_->wants_block_hiddens());
      const std::vector<at::Tensor> term_sums = objective_->sums(model_, outputs, batch);
      at::Tensor total = term_sums[0] * scales[0];
      for (size_t t = 1; t < terms; ++t) total = total + term_sums[t] * scales[t];
      phases_.mark(StepPhases::kForward);
      // A micro batch may reach no trainable parameter (text only, while only the projector
      // trains): it has no backward, and the engine's sweep still reduces zeros, as every rank
      // must.
      if (total.requires_grad()) total.backward();
      engine_->end_micro_batch();
      phases_.mark(StepPhases::kBackward);
      for (size_t t = 0; t < terms; ++t) sums[t] += term_sums[t].item<double>();
      sums[terms] += static_cast<double>(batch.real_tokens);
    }
    sums[terms + 1] = preemption_requested() ? 1.0 : 0.0;
    comm_.all_reduce(sums, cluster::ReduceOp::kSum);
    const double lr = learning_rate(stage_.schedule, stage_.optimizer.lr, step, total_steps_);
    const double grad_norm = engine_->clip_grad_norm(stage_.optimizer.grad_clip);
    phases_.mark(StepPhases::kReductions);
    double loss = 0.0;
    for (size_t t = 0; t < terms; ++t) loss += sums[t] * scales[t];
    const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
    if (finite) {
      engine_->optimizer_step(lr);
      bad_in_a_row_ = 0;
    } else {
      skip_step(step, loss, grad_norm);
    }
    phases_.mark(StepPhases::kOptimizer);

    StepMetrics m;
    m.step = step + 1;
    m.stage = stage_.name;
    m.run_step = run_steps_before_ + m.step;
    m.loss = loss;
    m.skipped = !finite;
    m.skipped_steps = skipped_steps_;
    m.preempted = sums[terms + 1] > 0;
    for (size_t t = 0; t < terms; ++t) {
      m.loss_terms[objective_->terms()[t]] = counts[t] > 0 ? sums[t] / counts[t] : 0.0;
    }
    m.lr = lr;
    m.grad_norm = grad_norm;
    m.tokens = static_cast<int64_t>(sums[terms]);
    m.step_time_s = seconds_since(start);
    m.tokens_per_s = static_cast<double>(m.tokens) / m.step_time_s;
    if (peak_.flops > 0) m.mfu = flops_per_token_ * m.tokens_per_s / peak_.flops;
    m.samples_seen = (step + 1) * stage_.training.global_batch_size;
    return m;
  }

  // A non-finite step is not applied; too many in a row stop the run (stop_if_diverged, once
  // the step is logged) before a checkpoint can take the diverged state. Every rank sees the same
  // all-reduced loss and norm: all agree.
  void skip_step(int64_t step, double loss, double grad_norm) {
    engine_->skip_step();
    ++skipped_steps_;
    ++bad_in_a_row_;
    log::warn("{} step {}: loss {} grad_norm {}: not applied ({} in a row, {} in the stage)",
              stage_.name, step + 1, loss, grad_norm, bad_in_a_row_, skipped_steps_);
  }

  // A stage that leaves most samples out of the loss trains on little or nothing and still logs a
  // plausible loss: an image root whose datasets are linked in from elsewhere did exactly that
  // before data.follow_symlinks (every image refused, a text-only row here and there). A corpus
  // with some bad records stays well under half. The counts are all-reduced, so every rank stops
  // at the same step.
  void stop_if_most_rows_left_out(int64_t step, double left_out, double rows) {
    constexpr double kMinRows = 256;  // enough rows that a cluster of bad records is not "most"
    rows_left_out_ += left_out;
    rows_seen_ += rows;
    VLM_CHECK(rows_seen_ < kMinRows || 2 * rows_left_out_ <= rows_seen_, FormatError, "stage '",
              stage_.name, "' step ", step + 1, ": ", rows_left_out_, " of the ", rows_seen_,
              " samples so far were left out of the loss, more than half: the corpus or the "
              "recipe is wrong (the warnings above say why each was left out, for example an "
              "image refused as outside data.image_root)");
  }

  void stop_if_diverged(int64_t step) const {
    VLM_CHECK(bad_in_a_row_ < stage_.training.max_nonfinite_steps, DivergenceError, "stage '",
              stage_.name, "' step ", step + 1, ": ", bad_in_a_row_,
              " steps in a row had a non-finite loss or gradient norm "
              "(training.max_nonfinite_steps is ",
              stage_.training.max_nonfinite_steps,
              "); stopping so that no checkpoint takes the diverged state");
  }

  const recipes::Stage& stage_;
  int64_t stage_index_ = 0;
  int64_t stage_count_ = 1;
  int64_t run_steps_before_ = 0;
  PeakFlops peak_;
  double flops_per_token_ = 0.0;
  models::VisionLanguageModel& model_;
  at::Device device_ = at::kCPU;  // where the model lives: the batches go there too
  const cluster::World& world_;
  cluster::Communicator& comm_;
  Checkpointer& checkpointer_;
  RunObserver& observer_;  // rank 0's watch the run; other ranks' only see what every rank sees
  std::unique_ptr<Objective> objective_;
  std::unique_ptr<sharding::ShardedEngine> engine_;
  std::unique_ptr<data::Loader> loader_;
  int64_t micro_batch_ = 0;
  int64_t accumulation_ = 1;
  int64_t total_steps_ = 0;
  int64_t skipped_steps_ = 0;
  int64_t bad_in_a_row_ = 0;
  double rows_left_out_ = 0;  // this stage's (since its start or resume), over all ranks
  double rows_seen_ = 0;
  int64_t planned_bytes_ = 0;
  StepPhases phases_;
  sharding::CpuCacheStats cache_at_start_;  // the stage's own reuse is logged at its end
  const std::chrono::milliseconds step_delay_ = test_step_delay();
  RowTrace row_trace_{world_.rank};
};

// Checkpoints written before the count was recorded: the earlier stages' max_steps (exact when
// they set it, which the test recipes do).
int64_t run_steps_before(const ResumePoint& resume, const recipes::Recipe& recipe) {
  const auto recorded = resume.manifest.counters.find(kRunStepsBeforeStage);
  if (recorded != resume.manifest.counters.end()) return static_cast<int64_t>(recorded->second);
  int64_t steps = 0;
  for (int64_t i = 0; i < resume.manifest.stage_index; ++i) {
    steps += recipe.stages[static_cast<size_t>(i)].training.max_steps;
  }
  return steps;
}

}  // namespace

int64_t micro_batch_size(const recipes::TrainingSection& training, int world_size) {
  const int64_t micro = training.micro_batch_size > 0 ? training.micro_batch_size
                                                      : training.global_batch_size / world_size;
  VLM_CHECK(micro > 0 && training.global_batch_size % (micro * world_size) == 0, ConfigError,
            "training.global_batch_size ", training.global_batch_size,
            " must be a multiple of training.micro_batch_size x ranks = ", micro, " x ",
            world_size);
  return micro;
}

int64_t stage_steps(const recipes::TrainingSection& training, int64_t samples_per_epoch) {
  if (training.max_steps > 0) return training.max_steps;
  const double samples = training.epochs * static_cast<double>(samples_per_epoch);
  const auto steps = static_cast<int64_t>(std::floor(samples / training.global_batch_size));
  VLM_CHECK(steps > 0, ConfigError, "training.epochs ", training.epochs, " over ",
            samples_per_epoch, " samples makes no full batch of training.global_batch_size ",
            training.global_batch_size);
  return steps;
}

TrainOutcome train(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
                   const cluster::World& world, cluster::Communicator& comm,
                   monitor::RunObserver& observer, const TrainOptions& options) {
  VLM_CHECK(!recipe.stages.empty(), ConfigError, recipe.source_path, ": the recipe has no stages");
  const auto& first = recipe.stages.front();
  apply_threads(plan_threads(static_cast<int>(first.training.num_threads), world.local_size));
  at::manual_seed(first.training.seed);  // LoRA dropout; everything else is seeded locally

  const Placement placement = choose_placement(recipe, world);
  std::shared_ptr<const data::Tokenizer> tokenizer = data::load_run_tokenizer(recipe);
  sharding::install_caching_cpu_allocator(recipe.sharding);
  models::VisionLanguageModel model(recipe.model, tokenizer->vocab_size(), first.training.seed,
                                    placement.device);
  install_preemption_handlers();
  Checkpointer checkpointer(recipe, layout, comm, options.resume_path, &observer);
  const std::optional<ResumePoint> resume = checkpointer.find_resume();
  PeakFlopsSource peaks(comm);

  const bool stop_named =
      options.stop_after_stage.empty() ||
      std::any_of(recipe.stages.begin(), recipe.stages.end(),
                  [&](const recipes::Stage& s) { return s.name == options.stop_after_stage; });
  VLM_CHECK(stop_named, ConfigError, "--stop-after ", options.stop_after_stage,
            ": the recipe has no stage of that name");
  TrainOutcome outcome;
  int64_t run_steps = 0;
  for (size_t index = 0; index < recipe.stages.size(); ++index) {
    const recipes::Stage& stage = recipe.stages[index];
    const auto stage_index = static_cast<int64_t>(index);
    if (resume && stage_index < resume->manifest.stage_index) {
      // Finished before the checkpoint: its structure is replayed, its training is not. What it
      // trained is in the checkpoint when a later stage trains it too (see the README).
      prepare_model(model, stage, token_id_of(*tokenizer));
      finish_model(model, stage);
      continue;
    }
    const bool resumes_here = resume && stage_index == resume->manifest.stage_index;
    if (resumes_here) run_steps = run_steps_before(*resume, recipe);
    {
      const StagePlace place{stage_index, static_cast<int64_t>(recipe.stages.size()), run_steps};
      StageRunner runner(stage, place, peaks.for_stage(stage.training), recipe.sharding, model,
                         tokenizer, world, comm, checkpointer, observer);
      outcome.stages.push_back(runner.run(resumes_here ? &*resume : nullptr));
    }
    const StageResult& result = outcome.stages.back();
    run_steps += result.steps;
    if (result.preempted) {
      outcome.preempted = true;
      break;
    }
    finish_model(model, stage);
    if (world.is_coordinator()) {
      // The last stage's model is the final model: written once, not twice.
      const bool last = &stage == &recipe.stages.back();
      const std::string folder = last ? layout.final_model() : layout.stage_model(stage.name);
      checkpoint::export_model(model, folder);
      log::info("stage '{}' done in {:.1f} s: {}, {:.0f} tokens/s; model at {}", stage.name,
                result.summary.seconds, result.summary.losses_text(), result.summary.tokens_per_s(),
                folder);
    }
    if (stage.name == options.stop_after_stage && &stage != &recipe.stages.back()) {
      log::info(
          "stopping after stage '{}' (--stop-after); the same command without it continues "
          "with stage '{}'",
          stage.name, recipe.stages[index + 1].name);
      outcome.stopped_early = true;
      break;
    }
  }
  observer.run_finished(outcome.preempted);
  return outcome;
}

}  // namespace vlm::worker
