#include "worker/run_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"
#include "data/run_tokenizer.h"
#include "models/activation_memory.h"
#include "models/fusion.h"
#include "models/hf_config.h"
#include "models/lora.h"
#include "models/model.h"
#include "sharding/engine.h"
#include "worker/trainer.h"

namespace vlm::worker {
namespace {

std::string count_text(int64_t count) {
  std::string digits = std::to_string(count < 0 ? -count : count);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<size_t>(i), ",");
  }
  return (count < 0 ? "-" : "") + digits;
}

std::string bytes_text(int64_t bytes) {
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  return mib >= 1024.0 ? fmt::format("{:.2f} GiB", mib / 1024.0) : fmt::format("{:.1f} MiB", mib);
}

// The run's vocabulary: the tokenizer's, or, when its file is not at hand, the checkpoint's rows
// plus the tokens the recipe adds (appended after them, as the tokenizer would).
struct Vocabulary {
  int64_t size = 0;
  std::function<int32_t(const std::string&)> id_of;
  std::string source;
};

int64_t checkpoint_rows(const recipes::LlmConfig& llm) {
  if (llm.hf_path.empty()) return llm.vocab_size;
  return models::llm_config_from_hf(files::join(llm.hf_path, "config.json"), llm).vocab_size;
}

Vocabulary run_vocabulary(const recipes::Recipe& recipe) {
  try {
    std::shared_ptr<const data::Tokenizer> tokenizer = data::load_run_tokenizer(recipe);
    return {tokenizer->vocab_size(),
            [tokenizer](const std::string& token) { return tokenizer->special_id(token); },
            fmt::format("{} tokens (the tokenizer)", count_text(tokenizer->vocab_size()))};
  } catch (const IoError& e) {
    const int64_t rows = checkpoint_rows(recipe.model.llm);
    VLM_CHECK(rows > 0, ConfigError, "--plan needs the vocabulary size: ", e.what(),
              "; or set model.llm.vocab_size");
    std::map<std::string, int32_t> ids;
    for (const auto& token : data::run_added_tokens(recipe)) {
      ids.emplace(token, static_cast<int32_t>(rows + static_cast<int64_t>(ids.size())));
    }
    return {rows + static_cast<int64_t>(ids.size()),
            [ids](const std::string& token) { return ids.at(token); },
            fmt::format("{} tokens (no tokenizer file, so the checkpoint's rows{}: {})",
                        count_text(rows + static_cast<int64_t>(ids.size())),
                        ids.empty() ? "" : " and the recipe's added tokens", e.what())};
  }
}

// Parameter counts by part ("llm", "vision", "projector", ..., "lora", "fusion", "added token
// rows"), in the model's order.
std::vector<std::pair<std::string, int64_t>> parts_of(const models::VisionLanguageModel& model) {
  std::vector<std::pair<std::string, int64_t>> parts;
  for (const auto& [name, param] : model.named_parameters()) {
    std::string part = name.substr(0, name.find('.'));
    if (models::is_lora_parameter(name)) part = "lora";
    if (models::is_fusion_parameter(name)) part = "fusion";
    if (name.rfind("llm.model.embed_tokens.added.", 0) == 0) part = "added token rows";
    auto it =
        std::find_if(parts.begin(), parts.end(), [&](const auto& p) { return p.first == part; });
    if (it == parts.end()) {
      parts.emplace_back(part, param.numel());
    } else {
      it->second += param.numel();
    }
  }
  return parts;
}

int64_t total_of(const std::vector<std::pair<std::string, int64_t>>& parts) {
  int64_t total = 0;
  for (const auto& part : parts) total += part.second;
  return total;
}

std::string llm_description(const recipes::LlmConfig& llm) {
  return fmt::format("{}, {} layers, d {}, {} heads ({} kv), intermediate {}, vocab {}{}",
                     recipes::name_of(llm.family), llm.num_layers, llm.hidden_size, llm.num_heads,
                     llm.num_kv_heads > 0 ? llm.num_kv_heads : llm.num_heads, llm.intermediate_size,
                     llm.vocab_size, llm.hf_path.empty() ? "" : "; " + llm.hf_path);
}

std::string vision_description(const recipes::VisionConfig& vision) {
  return fmt::format("{}, {} layers, d {}, {} px / {}{}", recipes::name_of(vision.type),
                     vision.num_layers, vision.hidden_size, vision.image_size, vision.patch_size,
                     vision.hf_path.empty() ? "" : "; " + vision.hf_path);
}

void print_model(std::ostream& out, const models::VisionLanguageModel& model,
                 int64_t checkpoint_vocab) {
  const recipes::ModelSection& config = model.config();
  const auto parts = parts_of(model);
  out << "model: " << recipes::name_of(config.architecture) << ", "
      << model.image_tokens_per_image() << " image tokens per image\n";
  std::vector<std::vector<std::string>> rows = {{"part", "parameters", "shape"}};
  for (const auto& [part, count] : parts) {
    std::string shape;
    if (part == "llm") {
      shape = llm_description(config.llm);
      const int64_t grown = config.llm.vocab_size - checkpoint_vocab;
      if (!config.llm.hf_path.empty() && grown > 0) {
        const int64_t added =
            grown * config.llm.hidden_size * (config.llm.tie_word_embeddings ? 1 : 2);
        shape += fmt::format("; the checkpoint's {} + {} for {} added row(s)",
                             count_text(count - added), count_text(added), grown);
      }
    }
    if (part == "vision") shape = vision_description(config.vision);
    if (part == "projector") shape = recipes::name_of(config.projector.type);
    rows.push_back({part, count_text(count), shape});
  }
  rows.push_back({"total", count_text(total_of(parts)), ""});
  for (const auto& line : format_table(rows)) out << "  " << line << "\n";
}

// Consecutive units of equal size and trainable count as one row ("llm.layers.0..31").
void print_units(std::ostream& out, const std::vector<sharding::UnitSize>& units) {
  std::vector<std::vector<std::string>> rows = {{"unit", "parameters", "trainable"}};
  for (size_t i = 0; i < units.size();) {
    size_t j = i + 1;
    while (j < units.size() && units[j].trainable == units[i].trainable &&
           units[j].frozen == units[i].frozen) {
      ++j;
    }
    const auto& unit = units[i];
    std::string name = unit.name;
    if (j - i > 1) {
      const std::string& last = units[j - 1].name;
      name = fmt::format("{}..{} ({} x)", unit.name, last.substr(last.rfind('.') + 1), j - i);
    }
    rows.push_back({name, count_text(unit.trainable + unit.frozen), count_text(unit.trainable)});
    i = j;
  }
  for (const auto& line : format_table(rows)) out << "    " << line << "\n";
}

int64_t images_per_sample(const models::VisionLanguageModel& model) {
  return model.image_tokens_per_image() > 0 ? 1 : 0;
}

bool trains(const recipes::Stage& stage, const std::string& group) {
  return std::find(stage.trainable.begin(), stage.trainable.end(), group) != stage.trainable.end();
}

// The largest consumer of a plan that does not fit, and what would shrink it.
std::string biggest_consumer(const sharding::MemoryPlan& memory, const StagePlan& plan,
                             const recipes::Stage& stage, bool recompute) {
  const std::vector<std::pair<int64_t, std::string>> consumers = {
      {memory.optimizer,
       "the optimizer state (fp32 masters and AdamW moments of the trainable parameters): more "
       "ranks divide it (sharding.stage 1-3), LoRA trains fewer parameters"},
      {memory.parameters,
       "the parameters: sharding.stage 3 divides them by the ranks, training.dtype bf16 halves "
       "them"},
      {memory.gradients, "the gradients: sharding.stage 2 or 3 keeps only each rank's share"},
      {memory.gathered,
       fmt::format("the gathered units (largest {}): sharding.prefetch false holds one at a time",
                   memory.largest_unit_name)},
      {memory.activations,
       fmt::format("the activations of a micro batch of {} x {} tokens: {}a smaller "
                   "training.micro_batch_size or data.max_seq_len",
                   plan.micro_batch, stage.data.max_seq_len,
                   recompute ? "" : "sharding.activation_checkpointing true, ")},
      {memory.model_build, "the whole model, which every rank builds before the engine shards it"},
  };
  const auto top = std::max_element(consumers.begin(), consumers.end());
  return fmt::format("{} ({})", top->second, bytes_text(top->first));
}

}  // namespace

StagePlan plan_stage(const recipes::ShardingSection& sharding, const recipes::Stage& stage,
                     models::VisionLanguageModel& model, int world_size) {
  StagePlan plan;
  plan.micro_batch = micro_batch_size(stage.training, world_size);
  plan.accumulation = stage.training.global_batch_size / (plan.micro_batch * world_size);
  const sharding::EngineOptions options =
      sharding::engine_options(sharding, stage, plan.accumulation);
  const std::vector<sharding::UnitSize> units = sharding::unit_sizes(model);
  plan.memory = sharding::plan_memory(units, options, world_size);
  for (const auto& unit : units) plan.trainable += unit.trainable;
  models::ActivationShape shape;
  shape.samples = plan.micro_batch;
  shape.tokens = stage.data.max_seq_len;
  shape.images = images_per_sample(model);
  shape.element_bytes = static_cast<int64_t>(c10::elementSize(options.compute_dtype));
  shape.vision_trains = trains(stage, "vision");
  shape.image_path_trains =
      trains(stage, "projector") || trains(stage, "vision_embedding") || trains(stage, "fusion");
  shape.recompute = sharding.activation_checkpointing;
  plan.activations = models::estimate_activations(model.config(), shape);
  shape.recompute = !shape.recompute;
  plan.other = models::estimate_activations(model.config(), shape);
  plan.memory.activations = plan.activations.total();
  plan.memory.model_build = sharding::model_build_bytes(units);
  return plan;
}

PlanOutcome plan_run(const recipes::Recipe& recipe, const PlanOptions& options) {
  VLM_CHECK(options.world_size >= 1, ConfigError, "--world-size must be at least 1, got ",
            options.world_size);
  VLM_CHECK(!recipe.stages.empty(), ConfigError, recipe.source_path, ": the recipe has no stages");
  const Vocabulary vocabulary = run_vocabulary(recipe);
  const uint64_t seed = recipe.stages.front().training.seed;
  models::VisionLanguageModel model(recipe.model, vocabulary.size, seed, at::kMeta);

  std::ostringstream out;
  out << fmt::format("plan: {} at {} rank(s){}\n", recipe.source_path, options.world_size,
                     options.device_memory > 0
                         ? ", " + bytes_text(options.device_memory) + " per rank"
                         : std::string());
  out << "vocabulary: " << vocabulary.source << "\n";
  print_model(out, model, checkpoint_rows(recipe.model.llm));

  PlanOutcome outcome;
  int64_t worst = 0;
  for (size_t index = 0; index < recipe.stages.size(); ++index) {
    const recipes::Stage& stage = recipe.stages[index];
    prepare_model(model, stage, vocabulary.id_of);
    const StagePlan plan = plan_stage(recipe.sharding, stage, model, options.world_size);
    const sharding::MemoryPlan& memory = plan.memory;
    const bool recompute = recipe.sharding.activation_checkpointing;
    out << fmt::format(
        "stage {}/{} '{}' ({}): {} trainable parameters ({}); ZeRO stage {}, {}, {} rank(s) x "
        "micro batch {} x {} accumulation, {} tokens per sequence\n",
        index + 1, recipe.stages.size(), stage.name, stage.objective->word,
        count_text(plan.trainable), fmt::join(stage.trainable, ", "), memory.stage,
        recipes::name_of(stage.training.dtype), options.world_size, plan.micro_batch,
        plan.accumulation, stage.data.max_seq_len);
    out << "  sharding units:\n";
    print_units(out, sharding::unit_sizes(model));
    const std::vector<std::vector<std::string>> rows = {
        {"per rank", "bytes"},
        {"parameters", bytes_text(memory.parameters)},
        {"gradients", bytes_text(memory.gradients)},
        {"AdamW state", bytes_text(memory.optimizer)},
        {"gathered units", fmt::format("{} (largest: {}, {})", bytes_text(memory.gathered),
                                       memory.largest_unit_name, bytes_text(memory.largest_unit))},
        {"transient gradient", bytes_text(memory.transient)},
        {"activations", fmt::format("{} (activation checkpointing {}; {}: {})",
                                    bytes_text(plan.activations.total()), recompute ? "on" : "off",
                                    recompute ? "off" : "on", bytes_text(plan.other.total()))},
        {"training total", bytes_text(memory.training_total())},
        {"model as built", fmt::format("{} (every rank builds the whole model, then shards it)",
                                       bytes_text(memory.model_build))},
        {"peak", bytes_text(memory.total())},
    };
    for (const auto& line : format_table(rows)) out << "  " << line << "\n";
    // The verdict names the stage that needs the most.
    if (options.device_memory > 0 && memory.total() > options.device_memory &&
        memory.total() > worst) {
      worst = memory.total();
      outcome.fits = false;
      outcome.verdict = fmt::format(
          "stage '{}' needs {} per rank at {} rank(s), more than the {} given; the biggest "
          "consumer is {}",
          stage.name, bytes_text(memory.total()), options.world_size,
          bytes_text(options.device_memory), biggest_consumer(memory, plan, stage, recompute));
    }
    finish_model(model, stage);
  }
  out << (outcome.fits ? (options.device_memory > 0 ? "fits: every stage\n" : "")
                       : "does not fit: " + outcome.verdict + "\n");
  outcome.report = out.str();
  return outcome;
}

}  // namespace vlm::worker
