#include "worker/trainer.h"

#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <numeric>

#include "checkpoint/model_export.h"
#include "cluster/communicator.h"
#include "common/error.h"
#include "common/log.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "sharding/caching_allocator.h"
#include "sharding/engine.h"
#include "worker/batch_tensors.h"
#include "worker/metrics.h"
#include "worker/objective.h"
#include "worker/schedule.h"
#include "worker/threads.h"

namespace vlm::worker {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t micro_batch_size(const recipes::TrainingSection& training, int world_size) {
  const int64_t micro = training.micro_batch_size > 0 ? training.micro_batch_size
                                                      : training.global_batch_size / world_size;
  VLM_CHECK(micro > 0 && training.global_batch_size % (micro * world_size) == 0, ConfigError,
            "training.global_batch_size ", training.global_batch_size,
            " must be a multiple of training.micro_batch_size x ranks = ", micro, " x ",
            world_size);
  return micro;
}

// Everything one stage needs, built from its sections.
class StageRunner {
 public:
  StageRunner(const recipes::Stage& stage, const recipes::ShardingSection& sharding,
              models::VisionLanguageModel& model, std::shared_ptr<const data::Tokenizer> tokenizer,
              const cluster::World& world, cluster::Communicator& comm, MetricsLog* metrics)
      : stage_(stage), model_(model), world_(world), comm_(comm), metrics_(metrics) {
    if (stage.lora.rank > 0) model_.add_lora(stage.lora, stage.training.seed);
    model_.set_trainable(stage.trainable);
    micro_batch_ = micro_batch_size(stage.training, world.world_size);
    accumulation_ = stage.training.global_batch_size / (micro_batch_ * world.world_size);
    engine_ = make_engine(sharding);
    sharding::release_idle_cpu_blocks();  // the model's set-up copies
    loader_ = std::make_unique<data::Loader>(loader_options(), std::move(tokenizer));
    total_steps_ = stage_steps(stage.training, loader_->samples_per_epoch());
  }

  StageResult run() {
    log::info(
        "stage '{}': {} steps, global batch {} = {} rank(s) x {} micro x {} accumulation, "
        "{} samples per epoch, {} trainable parameters",
        stage_.name, total_steps_, stage_.training.global_batch_size, world_.world_size,
        micro_batch_, accumulation_, loader_->samples_per_epoch(), engine_->trainable_count());
    loader_->seek(0);
    model_.train(true);
    StageResult result{stage_.name};
    std::deque<double> recent;
    const auto stage_start = Clock::now();
    int64_t tokens_total = 0;
    for (int64_t step = 0; step < total_steps_; ++step) {
      const StepMetrics m = train_step(step);
      tokens_total += m.tokens;
      if (step == 0) result.first_loss = m.loss;
      recent.push_back(m.loss);
      if (static_cast<int64_t>(recent.size()) > std::max<int64_t>(1, stage_.training.log_every)) {
        recent.pop_front();
      }
      if ((step + 1) % stage_.training.log_every == 0 || step + 1 == total_steps_) {
        log::info("{} step {}/{} loss {:.4f} lr {:.2e} grad_norm {:.3f} {:.0f} tok/s", stage_.name,
                  step + 1, total_steps_, m.loss, m.lr, m.grad_norm, m.tokens_per_s);
      }
    }
    result.steps = total_steps_;
    result.seconds = seconds_since(stage_start);
    result.last_loss = recent.empty() ? 0.0
                                      : std::accumulate(recent.begin(), recent.end(), 0.0) /
                                            static_cast<double>(recent.size());
    result.tokens_per_s =
        result.seconds > 0 ? static_cast<double>(tokens_total) / result.seconds : 0;
    engine_->release_to_model();
    return result;
  }

 private:
  data::LoaderOptions loader_options() const {
    data::LoaderOptions options;
    options.data = stage_.data;
    options.seed = stage_.training.seed;
    options.image_size = model_.config().vision.image_size;
    options.image_tokens = model_.image_tokens_per_image();
    options.batch_size = micro_batch_;
    options.global_batch_size = stage_.training.global_batch_size;
    options.rank = world_.rank;
    options.world_size = world_.world_size;
    return options;
  }

  // Plans the memory before the engine allocates, and refuses a plan over the budget.
  std::unique_ptr<sharding::ShardedEngine> make_engine(const recipes::ShardingSection& sharding) {
    const sharding::EngineOptions options =
        sharding::engine_options(sharding, stage_, accumulation_);
    const sharding::MemoryPlan plan =
        sharding::plan_memory(sharding::unit_sizes(model_), options, world_.world_size);
    if (world_.is_coordinator()) log::info("stage '{}': {}", stage_.name, plan.describe());
    const double budget = sharding.max_memory_per_rank_mib * 1024.0 * 1024.0;
    VLM_CHECK(budget <= 0 || static_cast<double>(plan.total()) <= budget, ConfigError, "stage '",
              stage_.name, "' needs ", static_cast<double>(plan.total()) / (1024.0 * 1024.0),
              " MiB per rank by the memory plan but sharding.max_memory_per_rank_mib is ",
              sharding.max_memory_per_rank_mib, ": ", plan.describe(),
              ". Use a higher sharding.stage, more ranks, or a larger budget");
    return std::make_unique<sharding::ShardedEngine>(model_, comm_, options);
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
    // All micro batches first: the loss is normalized by the step's label tokens over all ranks,
    // so it does not depend on how the global batch is split into ranks and micro batches.
    std::vector<TensorBatch> micro_batches;
    int64_t label_tokens = 0;
    for (int64_t i = 0; i < accumulation_; ++i) {
      micro_batches.push_back(to_tensors(loader_->next(), /*bidirectional_images=*/false));
      label_tokens += micro_batches.back().label_tokens;
    }
    label_tokens = comm_.all_reduce(label_tokens, cluster::ReduceOp::kSum);
    const double normalizer = static_cast<double>(std::max<int64_t>(1, label_tokens));
    engine_->begin_step(step);
    std::vector<double> sums = {0.0, 0.0};  // loss, tokens
    for (size_t i = 0; i < micro_batches.size(); ++i) {
      const auto& batch = micro_batches[i];
      engine_->begin_micro_batch(i + 1 == micro_batches.size());
      const models::ModelOutputs outputs = model_.forward(batch.inputs);
      const LossSums loss = llava_loss(outputs, batch);
      (loss.total / normalizer).backward();
      engine_->end_micro_batch();
      sums[0] += loss.total.item<double>();
      sums[1] += static_cast<double>(batch.real_tokens);
    }
    comm_.all_reduce(sums, cluster::ReduceOp::kSum);
    const double lr = learning_rate(stage_.schedule, stage_.optimizer.lr, step, total_steps_);
    const double grad_norm = engine_->clip_grad_norm(stage_.optimizer.grad_clip);
    engine_->optimizer_step(lr);

    StepMetrics m;
    m.step = step + 1;
    m.stage = stage_.name;
    m.loss = sums[0] / normalizer;
    m.loss_terms["text_ce"] = m.loss;
    m.lr = lr;
    m.grad_norm = grad_norm;
    m.tokens = static_cast<int64_t>(sums[1]);
    m.step_time_s = seconds_since(start);
    m.tokens_per_s = static_cast<double>(m.tokens) / m.step_time_s;
    m.samples_seen = (step + 1) * stage_.training.global_batch_size;
    if (metrics_ != nullptr) metrics_->write(m);
    return m;
  }

  const recipes::Stage& stage_;
  models::VisionLanguageModel& model_;
  const cluster::World& world_;
  cluster::Communicator& comm_;
  MetricsLog* metrics_;  // rank 0 only
  std::unique_ptr<sharding::ShardedEngine> engine_;
  std::unique_ptr<data::Loader> loader_;
  int64_t micro_batch_ = 0;
  int64_t accumulation_ = 1;
  int64_t total_steps_ = 0;
};

}  // namespace

int64_t stage_steps(const recipes::TrainingSection& training, int64_t samples_per_epoch) {
  if (training.max_steps > 0) return training.max_steps;
  const double samples = training.epochs * static_cast<double>(samples_per_epoch);
  const auto steps = static_cast<int64_t>(std::floor(samples / training.global_batch_size));
  VLM_CHECK(steps > 0, ConfigError, "training.epochs ", training.epochs, " over ",
            samples_per_epoch, " samples makes no full batch of training.global_batch_size ",
            training.global_batch_size);
  return steps;
}

std::vector<StageResult> train(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
                               const cluster::World& world) {
  VLM_CHECK(!recipe.stages.empty(), ConfigError, recipe.source_path, ": the recipe has no stages");
  const auto& first = recipe.stages.front();
  apply_threads(plan_threads(static_cast<int>(first.training.num_threads), world.local_size));
  at::manual_seed(first.training.seed);  // LoRA dropout; everything else is seeded locally

  std::shared_ptr<const data::Tokenizer> tokenizer =
      data::load_sentencepiece(data::resolve(first.data, first.data.tokenizer));
  sharding::install_caching_cpu_allocator(recipe.sharding);
  models::VisionLanguageModel model(recipe.model, tokenizer->vocab_size(), first.training.seed);
  // The NCCL backend reduces device buffers; this LibTorch keeps every tensor on the CPU.
  VLM_CHECK(recipe.cluster.backend == "mpi", ConfigError,
            "cluster.backend is nccl, but this build's LibTorch has no CUDA: the model's tensors "
            "live on the CPU, which only the mpi backend reduces. Set cluster.backend: mpi");
  std::unique_ptr<cluster::Communicator> comm = cluster::open_communicator();
  comm->set_timeout(recipe.cluster.timeout_s);
  VLM_CHECK(comm->size() == world.world_size, InternalError, "the launcher says ", world.world_size,
            " ranks but MPI has ", comm->size());
  std::unique_ptr<MetricsLog> metrics;
  if (world.is_coordinator()) metrics = std::make_unique<MetricsLog>(layout.metrics_jsonl());

  std::vector<StageResult> results;
  for (const auto& stage : recipe.stages) {
    StageRunner runner(stage, recipe.sharding, model, tokenizer, world, *comm, metrics.get());
    results.push_back(runner.run());
    if (world.is_coordinator()) {
      // The last stage's model is the final model: written once, not twice.
      const bool last = &stage == &recipe.stages.back();
      const std::string folder = last ? layout.final_model() : layout.stage_model(stage.name);
      checkpoint::export_model(model, folder);
      log::info("stage '{}' done in {:.1f} s: loss {:.4f} -> {:.4f}, {:.0f} tokens/s; model at {}",
                stage.name, results.back().seconds, results.back().first_loss,
                results.back().last_loss, results.back().tokens_per_s, folder);
    }
  }
  return results;
}

}  // namespace vlm::worker
