#include "worker/trainer.h"

#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <numeric>

#include "checkpoint/model_export.h"
#include "common/error.h"
#include "common/log.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "sharding/adamw.h"
#include "sharding/grad_norm.h"
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
            " must be a multiple of training.micro_batch_size x ranks = ", micro, " x ", world_size);
  return micro;
}

// Everything one stage needs, built from its sections.
class StageRunner {
 public:
  StageRunner(const recipes::Stage& stage, models::VisionLanguageModel& model,
              std::shared_ptr<const data::Tokenizer> tokenizer, const cluster::World& world,
              MetricsLog& metrics)
      : stage_(stage), model_(model), world_(world), metrics_(metrics) {
    if (stage.lora.rank > 0) model_.add_lora(stage.lora, stage.training.seed);
    model_.set_trainable(stage.trainable);
    optimizer_ = std::make_unique<sharding::AdamW>(
        stage.optimizer, sharding::make_param_groups(model_.named_parameters(), stage.optimizer));
    micro_batch_ = micro_batch_size(stage.training, world.world_size);
    accumulation_ = stage.training.global_batch_size / (micro_batch_ * world.world_size);
    loader_ = std::make_unique<data::Loader>(loader_options(), std::move(tokenizer));
    total_steps_ = stage_steps(stage.training, loader_->samples_per_epoch());
  }

  StageResult run() {
    log::info("stage '{}': {} steps, global batch {} = {} rank(s) x {} micro x {} accumulation, "
              "{} samples per epoch, {} trainable parameters",
              stage_.name, total_steps_, stage_.training.global_batch_size, world_.world_size,
              micro_batch_, accumulation_, loader_->samples_per_epoch(), trainable_count());
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
    result.tokens_per_s = result.seconds > 0 ? static_cast<double>(tokens_total) / result.seconds : 0;
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

  int64_t trainable_count() const {
    int64_t count = 0;
    for (const auto& [name, p] : model_.named_parameters()) {
      if (p.requires_grad()) count += p.numel();
    }
    return count;
  }

  StepMetrics train_step(int64_t step) {
    const auto start = Clock::now();
    // All micro batches first: the loss is normalized by the step's total label tokens.
    std::vector<TensorBatch> micro_batches;
    int64_t label_tokens = 0;
    for (int64_t i = 0; i < accumulation_; ++i) {
      micro_batches.push_back(to_tensors(loader_->next(), /*bidirectional_images=*/false));
      label_tokens += micro_batches.back().label_tokens;
    }
    const double normalizer = static_cast<double>(std::max<int64_t>(1, label_tokens));
    optimizer_->zero_grad();
    double loss_sum = 0.0;
    int64_t tokens = 0;
    for (const auto& batch : micro_batches) {
      const models::ModelOutputs outputs = model_.forward(batch.inputs);
      const LossSums sums = llava_loss(outputs, batch);
      (sums.total / normalizer).backward();
      loss_sum += sums.total.item<double>();
      tokens += batch.real_tokens;
    }
    const double lr = learning_rate(stage_.schedule, stage_.optimizer.lr, step, total_steps_);
    const double grad_norm =
        sharding::clip_grad_norm(optimizer_->all_params(), stage_.optimizer.grad_clip);
    optimizer_->step(lr);

    StepMetrics m;
    m.step = step + 1;
    m.stage = stage_.name;
    m.loss = loss_sum / normalizer;
    m.loss_terms["text_ce"] = m.loss;
    m.lr = lr;
    m.grad_norm = grad_norm;
    m.tokens = tokens;
    m.step_time_s = seconds_since(start);
    m.tokens_per_s = static_cast<double>(tokens) / m.step_time_s;
    m.samples_seen = (step + 1) * stage_.training.global_batch_size;
    metrics_.write(m);
    return m;
  }

  const recipes::Stage& stage_;
  models::VisionLanguageModel& model_;
  const cluster::World& world_;
  MetricsLog& metrics_;
  std::unique_ptr<sharding::AdamW> optimizer_;
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
  models::VisionLanguageModel model(recipe.model, tokenizer->vocab_size(), first.training.seed);
  MetricsLog metrics(layout.metrics_jsonl());

  std::vector<StageResult> results;
  for (const auto& stage : recipe.stages) {
    StageRunner runner(stage, model, tokenizer, world, metrics);
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
