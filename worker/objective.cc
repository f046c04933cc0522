#include "worker/objective.h"

#include "common/error.h"
#include "models/cross_entropy.h"
#include "models/vora.h"

namespace vlm::worker {
namespace {

class LlavaObjective : public Objective {
 public:
  LlavaObjective() {
    terms_ = {"text_ce"};
    weights_ = {1.0};
  }
  std::vector<double> counts(const TensorBatch& batch) const override {
    return {static_cast<double>(batch.label_tokens)};
  }
  std::vector<at::Tensor> sums(models::VisionLanguageModel&, const models::ModelOutputs& outputs,
                               const TensorBatch& batch) const override {
    return {shifted_cross_entropy_sum(outputs.logits, batch.labels)};
  }
};

// L = L_text + alpha * L_image over hybrid batches: the image term from the VDEP-mode rows, the
// text term from the rows with labels, which the loader leaves to the LLaVA-mode rows unless
// vdep.text_loss_on_vdep_rows (so the text count, known before the forward pass, is already the
// LLaVA rows' labelled tokens).
class VdepObjective : public Objective {
 public:
  explicit VdepObjective(const recipes::VdepConfig& config) : config_(config) {
    terms_ = {"text_ce", "image_" + name_of(config.loss)};
    weights_ = {1.0, config.alpha};
  }
  std::vector<double> counts(const TensorBatch& batch) const override {
    return {static_cast<double>(batch.label_tokens),
            static_cast<double>(vdep_image_pairs(batch, config_))};
  }
  std::vector<at::Tensor> sums(models::VisionLanguageModel&, const models::ModelOutputs& outputs,
                               const TensorBatch& batch) const override {
    return {shifted_cross_entropy_sum(outputs.logits, batch.labels),
            vdep_image_sum(outputs.last_hidden, outputs.image_embeds, batch, config_)};
  }
  // <auto_image> gets an embedding row of its own while the stage trains, folded back after.
  void add_parts(models::VisionLanguageModel& model, const TokenIdOf& token_id) const override {
    std::vector<int64_t> ids;
    for (const std::string& token : kVdepObjective.added_tokens) {
      ids.push_back(token_id(token));
    }
    model.separate_token_embeddings(ids);
  }
  void remove_parts(models::VisionLanguageModel& model) const override {
    model.fold_token_embeddings();
  }
  void configure_loader(data::LoaderOptions& options) const override {
    options.vdep_ratio = config_.ratio;
    options.vdep_split = config_.split;
    options.vdep_text_loss = config_.text_loss_on_vdep_rows;
  }

 private:
  recipes::VdepConfig config_;
};

// VoRA: L_LM + weight * mean over distilled blocks of the mean over image tokens of
// (1 - cos(AuxHead_i(h_i), teacher_i)). Each block is a term of its own, so metrics.jsonl logs
// the distillation per block.
class VoraObjective : public Objective {
 public:
  VoraObjective(const recipes::DistillConfig& config, uint64_t seed, int64_t teacher_layers)
      : config_(config), seed_(seed), blocks_(models::distilled_blocks(config, teacher_layers)) {
    terms_ = {"text_ce"};
    weights_ = {1.0};
    for (const int64_t block : blocks_) {
      terms_.push_back("distill_block_" + std::to_string(block));
      weights_.push_back(config.weight / static_cast<double>(blocks_.size()));
    }
  }
  std::vector<double> counts(const TensorBatch& batch) const override {
    int64_t image_tokens = 0;
    for (const data::ImageSpan& span : batch.image_spans) image_tokens += span.length;
    std::vector<double> out(terms_.size(), static_cast<double>(image_tokens));
    out[0] = static_cast<double>(batch.label_tokens);
    return out;
  }
  std::vector<at::Tensor> sums(models::VisionLanguageModel& model,
                               const models::ModelOutputs& outputs,
                               const TensorBatch& batch) const override {
    std::vector<at::Tensor> out = {shifted_cross_entropy_sum(outputs.logits, batch.labels)};
    const models::DistillationTerms distill =
        models::distillation_terms(model, outputs, batch.inputs);
    VLM_CHECK(distill.block_sums.size() == blocks_.size(), InternalError, "the model distils ",
              distill.block_sums.size(), " blocks, the objective expected ", blocks_.size());
    for (const auto& [block, sum] : distill.block_sums) out.push_back(sum);
    return out;
  }
  bool wants_block_hiddens() const override { return true; }
  void add_parts(models::VisionLanguageModel& model, const TokenIdOf&) const override {
    model.add_aux_heads(config_, seed_);
  }
  void remove_parts(models::VisionLanguageModel& model) const override { model.drop_aux_heads(); }

 private:
  recipes::DistillConfig config_;
  uint64_t seed_ = 0;  // the aux heads' initialisation
  std::vector<int64_t> blocks_;
};

// Positions (flattened over [B, T]) of the hidden states and the matching image-embedding rows
// (flattened over [N, P]) that VDEP pairs.
struct VdepPairs {
  std::vector<int64_t> hidden_rows;
  std::vector<int64_t> target_rows;
};

VdepPairs vdep_pairs(const TensorBatch& batch, int64_t seq_len, int64_t shift) {
  VdepPairs pairs;
  for (size_t image = 0; image < batch.image_spans.size(); ++image) {
    const data::ImageSpan& span = batch.image_spans[image];
    if (batch.vdep_rows.empty() || batch.vdep_rows[static_cast<size_t>(span.sample)] == 0) continue;
    for (int64_t j = 0; j + shift < span.length; ++j) {
      pairs.hidden_rows.push_back(span.sample * seq_len + span.start + j);
      pairs.target_rows.push_back(static_cast<int64_t>(image) * span.length + j + shift);
    }
  }
  return pairs;
}

at::Tensor index_tensor(const std::vector<int64_t>& rows, at::Device device) {
  return at::from_blob(const_cast<int64_t*>(rows.data()), {static_cast<int64_t>(rows.size())},
                       at::kLong)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

at::Tensor shifted_cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels) {
  // Shift the labels rather than slice the logits: a slice would copy the largest tensor.
  const at::Tensor next = at::constant_pad_nd(labels.slice(1, 1), {0, 1}, models::kIgnoreLabel);
  return models::cross_entropy_sum(logits.reshape({-1, logits.size(-1)}), next.reshape({-1}),
                                   models::kIgnoreLabel);
}

int64_t vdep_image_pairs(const TensorBatch& batch, const recipes::VdepConfig& config) {
  int64_t pairs = 0;
  for (const data::ImageSpan& span : batch.image_spans) {
    if (!batch.vdep_rows.empty() && batch.vdep_rows[static_cast<size_t>(span.sample)] != 0) {
      pairs += std::max<int64_t>(0, span.length - config.shift);
    }
  }
  return pairs;
}

at::Tensor vdep_image_sum(const at::Tensor& last_hidden, const at::Tensor& image_embeds,
                          const TensorBatch& batch, const recipes::VdepConfig& config) {
  const VdepPairs pairs = vdep_pairs(batch, last_hidden.size(1), config.shift);
  if (pairs.hidden_rows.empty()) return last_hidden.sum() * 0.0;  // keeps the graph whole
  const int64_t width = last_hidden.size(-1);
  VLM_CHECK(image_embeds.defined() && image_embeds.size(-1) == width, ShapeError,
            "VDEP regresses hidden states of width ", width, " onto image embeddings of width ",
            image_embeds.defined() ? image_embeds.size(-1) : 0);
  const at::Tensor hidden =
      last_hidden.reshape({-1, width})
          .index_select(0, index_tensor(pairs.hidden_rows, last_hidden.device()));
  at::Tensor target = image_embeds.reshape({-1, width})
                          .index_select(0, index_tensor(pairs.target_rows, image_embeds.device()));
  if (config.detach_target) target = target.detach();
  const at::Tensor distance = (target.to(hidden.scalar_type()) - hidden).pow(2).sum(-1);
  switch (config.loss) {
    case recipes::VdepLoss::kInvL2:
      return distance.reciprocal().sum();
    case recipes::VdepLoss::kSigmoidL2:
      return distance.sigmoid().sum();
    case recipes::VdepLoss::kL2:
      break;
  }
  return distance.sum();
}

std::unique_ptr<Objective> make_objective(const recipes::Stage& stage,
                                          const models::VisionLanguageModel& model) {
  if (stage.objective == &kLlavaObjective) return std::make_unique<LlavaObjective>();
  if (stage.objective == &kVdepObjective) return std::make_unique<VdepObjective>(stage.vdep);
  if (stage.objective == &kVoraObjective) {
    return std::make_unique<VoraObjective>(stage.distill, stage.training.seed,
                                           model.config().vision.num_layers);
  }
  VLM_THROW(InternalError, "stage '", stage.name, "': objective '",
            stage.objective == nullptr ? "" : stage.objective->word, "' has no implementation");
}

void prepare_model(models::VisionLanguageModel& model, const recipes::Stage& stage,
                   const TokenIdOf& token_id) {
  if (stage.lora.rank > 0) model.add_lora(stage.lora, stage.training.seed);
  make_objective(stage, model)->add_parts(model, token_id);
  model.set_trainable(stage.trainable);
}

void finish_model(models::VisionLanguageModel& model, const recipes::Stage& stage) {
  make_objective(stage, model)->remove_parts(model);
  if (stage.merge_lora_at_end) {
    model.merge_lora();
    // VoRA's end: the LLM has learned to see; the teacher is not needed any more.
    if (model.config().architecture == recipes::Architecture::kVora) model.drop_teacher();
  }
}

}  // namespace vlm::worker
