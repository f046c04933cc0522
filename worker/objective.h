// Training objectives, one class per stages[].objective holding all that the objective brings to a
// stage: its loss terms (a model's outputs and a batch -> named sums), what it adds to the model
// before training and removes after, and what it asks of the loader. A new recipe kind is one
// class here, one entry in make_objective, and its word and rules in objective_kinds.cc.
// Each term is a SUM over its own tokens (labelled text tokens, image tokens, ...); the trainer
// divides each by that count over the whole step (all ranks, all micro batches), so a step's loss
// does not depend on how the global batch is split into micro batches and ranks.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "models/model.h"
#include "recipes/recipe.h"
#include "worker/batch_tensors.h"
#include "worker/objective_kinds.h"

namespace vlm::worker {

class Objective {
 public:
  virtual ~Objective() = default;
  // Term names, as metrics.jsonl logs them ("text_ce", "image_l2", "distill_block_1", ...).
  const std::vector<std::string>& terms() const { return terms_; }
  // The step's loss is sum over terms of weight * (term sum / term count).
  const std::vector<double>& weights() const { return weights_; }
  // The tokens each term averages over in this micro batch; known before the forward pass.
  virtual std::vector<double> counts(const TensorBatch& batch) const = 0;
  // Each term's sum over the micro batch, differentiable, in terms() order.
  virtual std::vector<at::Tensor> sums(models::VisionLanguageModel& model,
                                       const models::ModelOutputs& outputs,
                                       const TensorBatch& batch) const = 0;
  virtual bool wants_block_hiddens() const { return false; }

  // Parts the objective adds to the model before the stage trains, and removes when it ends.
  // token_id gives an added token's id (its ObjectiveKind's added_tokens).
  using TokenIdOf = std::function<int32_t(const std::string&)>;
  virtual void add_parts(models::VisionLanguageModel& /*model*/,
                         const TokenIdOf& /*token_id*/) const {}
  virtual void remove_parts(models::VisionLanguageModel& /*model*/) const {}
  // The loader's settings this objective owns.
  virtual void configure_loader(data::LoaderOptions& /*options*/) const {}

 protected:
  std::vector<std::string> terms_;
  std::vector<double> weights_;
};

// The stage's objective (stage.objective): llava, vdep or vora.
std::unique_ptr<Objective> make_objective(const recipes::Stage& stage,
                                          const models::VisionLanguageModel& model);

// What a stage does to the model's structure before it trains (LoRA, the objective's parts, what
// trains) and after (the objective's parts removed, LoRA merged when the stage says so);
// replayed, without training, for the stages a resumed run has finished, by --plan, --check and
// checkpoint export.
using TokenIdOf = Objective::TokenIdOf;
void prepare_model(models::VisionLanguageModel& model, const recipes::Stage& stage,
                   const TokenIdOf& token_id);
void finish_model(models::VisionLanguageModel& model, const recipes::Stage& stage);

// Summed next-token cross entropy of logits [B,T,V] against labels [B,T].
at::Tensor shifted_cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels);

// VDEP's image term: for every image of a VDEP-mode row, the LLM's last hidden state at image
// position j against the image's input embedding at position j + shift (the target detached
// when asked), per token d = ||target - hidden||^2, reduced by `loss`: l2 sums d, inv_l2 sums
// 1 / d, sigmoid_l2 sums sigmoid(d). Returns the sum; image_pairs() counts its tokens.
at::Tensor vdep_image_sum(const at::Tensor& last_hidden, const at::Tensor& image_embeds,
                          const TensorBatch& batch, const recipes::VdepConfig& config);
int64_t vdep_image_pairs(const TensorBatch& batch, const recipes::VdepConfig& config);

}  // namespace vlm::worker
