#include "recipes/validate.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "recipes/schema.h"

namespace vlm::recipes {
namespace {

using schema::child_path;
using schema::format_number;
using schema::index_path;
using schema::join;

bool contains(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// Checks every field against the rule schema.h gives it.
class FieldChecker {
 public:
  explicit FieldChecker(const Origins& origins) : origins_(origins) {}

  template <typename Section>
  void section(const Section& section, const std::string& path) {
    schema::Fields<Section>::visit([&](const char* key, auto member, const auto& rule) {
      value(section.*member, rule, child_path(path, key));
    });
  }

 private:
  template <typename Number>
  void value(Number number, const schema::Range& range, const std::string& path) {
    if (!range.accepts(static_cast<double>(number))) {
      origins_.fail(path, range.requirement() + ", got " + format_number(number));
    }
  }

  void value(bool, schema::AnyBool, const std::string&) {}

  // The loader accepted only listed words.
  template <typename Enum>
  void value(Enum, const schema::Choice<Enum>&, const std::string&) {}
  void value(const ObjectiveKind*, schema::ObjectiveWord, const std::string&) {}

  void value(const std::string& text, const schema::Text& rule, const std::string& path) {
    if (rule.allowed.empty()) {
      if (rule.required && text.empty()) origins_.fail(path, "is required");
    } else if (!contains(rule.allowed, text)) {
      origins_.fail(path, "must be one of " + join(rule.allowed) + ", got " + quoted(text));
    }
  }

  void value(const std::vector<std::string>& names, const schema::NameList& rule,
             const std::string& path) {
    if (names.empty()) origins_.fail(path, "must list at least one of " + join(rule.allowed));
    for (size_t i = 0; i < names.size(); ++i) {
      if (!contains(rule.allowed, names[i])) {
        origins_.fail(index_path(path, i),
                      "must be one of " + join(rule.allowed) + ", got " + quoted(names[i]));
      }
      if (std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) {
        origins_.fail(index_path(path, i), "repeats " + quoted(names[i]));
      }
    }
  }

  void value(const std::vector<int64_t>& numbers, const schema::IntList& rule,
             const std::string& path) {
    if (numbers.empty() && !rule.may_be_empty) origins_.fail(path, "must list at least one number");
    for (size_t i = 0; i < numbers.size(); ++i) {
      value(numbers[i], rule.range, index_path(path, i));
      if (std::find(numbers.begin(), numbers.begin() + i, numbers[i]) != numbers.begin() + i) {
        origins_.fail(index_path(path, i), "repeats " + format_number(numbers[i]));
      }
    }
  }

  template <typename Section>
  void value(const Section& nested, schema::Nested, const std::string& path) {
    section(nested, path);
  }

  void value(const std::vector<Stage>& stages, schema::StageList, const std::string& path) {
    if (stages.empty()) origins_.fail(path, "must list at least one stage");
    for (size_t i = 0; i < stages.size(); ++i) section(stages[i], index_path(path, i));
  }

  const Origins& origins_;
};

// The rules below tie several fields together. Their messages name every key involved, as the
// user wrote it, and point at whichever of those keys the user set.
class CrossChecker {
 public:
  CrossChecker(const Origins& origins, const ObjectiveCatalogue& objectives)
      : origins_(origins), objectives_(objectives) {}

  void model(const ModelSection& model) {
    llm(model.llm);
    if (model.vision.type != VisionType::kNone) vision(model.vision);
    architecture(model);
  }

  void stage(const Stage& stage, size_t index, const ModelSection& model) {
    const std::string path = index_path("stages", index);
    data_source(stage.data, child_path(path, "data"));
    batch_sizes(stage.training, child_path(path, "training"));
    trainable_parts(stage, path, model);
    objective(stage, path, model);
  }

  // A timeout shorter than a few intervals would end healthy jobs over one late datagram.
  void heartbeats(const ClusterSection& cluster) {
    if (cluster.heartbeat_interval_s > 0 &&
        cluster.heartbeat_timeout_s < 3 * cluster.heartbeat_interval_s) {
      fail({"cluster.heartbeat_timeout_s", "cluster.heartbeat_interval_s"},
           "cluster.heartbeat_timeout_s (" + format_number(cluster.heartbeat_timeout_s) +
               ") must be at least 3 x cluster.heartbeat_interval_s (" +
               format_number(cluster.heartbeat_interval_s) + ")");
    }
  }

  // The model lives on one device for the whole run.
  void one_device(const std::vector<Stage>& stages) {
    for (size_t i = 0; i < stages.size(); ++i) {
      const std::string& device = stages[i].training.device;
      if (!valid_device(device)) {
        origins_.fail(child_path(index_path("stages", i), "training.device"),
                      "must be auto, cpu, cuda or cuda:<index>, got " + quoted(device));
      }
    }
    same_in_every_stage(
        stages, "training.device", [](const Stage& stage) { return stage.training.device; },
        "a run trains on one device (set training.device at the top level)");
  }

  // The run has one vocabulary: every stage names the same tokenizer (data/run_tokenizer.h then
  // checks that each stage resolves it to the same file).
  void one_tokenizer(const std::vector<Stage>& stages) {
    same_in_every_stage(
        stages, "data.tokenizer", [](const Stage& stage) { return stage.data.tokenizer; },
        "a run has one vocabulary (set data.tokenizer once, at the top level)");
  }

  // A run-wide key every stage inherits: a stage whose value differs from the first's is refused.
  template <typename ValueOf>
  void same_in_every_stage(const std::vector<Stage>& stages, const std::string& key,
                           ValueOf value_of, const std::string& why) {
    const std::string first = child_path(index_path("stages", 0), key);
    for (size_t i = 1; i < stages.size(); ++i) {
      const std::string path = child_path(index_path("stages", i), key);
      if (value_of(stages[i]) != value_of(stages[0])) {
        fail({path, first}, shown(path) + " is " + quoted(value_of(stages[i])) + " but " +
                                shown(first) + " is " + quoted(value_of(stages[0])) + ": " + why);
      }
    }
  }

  void unique_names(const std::vector<Stage>& stages) {
    for (size_t i = 0; i < stages.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (stages[i].name == stages[j].name) {
          const std::string name_path = index_path("stages", i) + ".name";
          origins_.fail(name_path, quoted(stages[i].name) + " is already the name of " +
                                       index_path("stages", j));
        }
      }
    }
  }

 private:
  void llm(const LlmConfig& llm) {
    const std::string hidden = "model.llm.hidden_size";
    const std::string heads = "model.llm.num_heads";
    const std::string kv_heads = "model.llm.num_kv_heads";
    divisible(hidden, llm.hidden_size, heads, llm.num_heads);
    if (llm.num_kv_heads > 0) divisible(heads, llm.num_heads, kv_heads, llm.num_kv_heads);
    const int64_t head_dim = llm.hidden_size / llm.num_heads;
    if (head_dim % 2 != 0) {
      fail({hidden, heads}, shown(hidden) + " / " + shown(heads) +
                                " (the head dimension) must be even for RoPE, got " +
                                format_number(head_dim));
    }
  }

  void vision(const VisionConfig& vision) {
    if (vision.type == VisionType::kAimv2 && vision.drop_cls) {
      fail({"model.vision.drop_cls", "model.vision.type"},
           shown("model.vision.drop_cls") + " must be false for " + shown("model.vision.type") +
               " aimv2: AIMv2 has no class token to drop");
    }
    divisible("model.vision.image_size", vision.image_size, "model.vision.patch_size",
              vision.patch_size);
    divisible("model.vision.hidden_size", vision.hidden_size, "model.vision.num_heads",
              vision.num_heads);
    // Hidden state index: 0 is the embeddings, num_layers the last block, -1 the last as well.
    // Written so that no sum can overflow, whatever numbers the recipe holds.
    const int64_t layer = vision.feature_layer;
    const bool in_range = layer >= 0 ? layer <= vision.num_layers : layer + vision.num_layers >= -1;
    if (!in_range) {
      const int64_t lowest = -(vision.num_layers + 1);
      const std::string path = "model.vision.feature_layer";
      fail({path, "model.vision.num_layers"},
           shown(path) + " must be in [" + format_number(lowest) + ", " +
               format_number(vision.num_layers) + "] for " + format_number(vision.num_layers) +
               " layers, got " + format_number(vision.feature_layer));
    }
  }

  static bool valid_device(const std::string& device) {
    if (device == "auto" || device == "cpu" || device == "cuda") return true;
    if (device.rfind("cuda:", 0) != 0 || device.size() == 5 || device.size() > 9) return false;
    return device.find_first_not_of("0123456789", 5) == std::string::npos;
  }

  // Exactly one of data.json and data.shards.
  void data_source(const DataSection& data, const std::string& path) {
    const std::string json = child_path(path, "json");
    const std::string shards = child_path(path, "shards");
    if (data.json.empty() && data.shards.empty()) {
      origins_.fail(json, "or " + shown(shards) +
                              " is required (a corpus file, or a folder vlm-shard wrote)");
    }
    if (!data.json.empty() && !data.shards.empty()) {
      fail({shards, json}, shown(json) + " and " + shown(shards) +
                               " are both set: a stage reads one of them (set the other to '')");
    }
  }

  void batch_sizes(const TrainingSection& training, const std::string& path) {
    if (training.micro_batch_size > 0) {
      const std::string global = child_path(path, "global_batch_size");
      const std::string micro = child_path(path, "micro_batch_size");
      divisible(global, training.global_batch_size, micro, training.micro_batch_size);
    }
  }

  void trainable_parts(const Stage& stage, const std::string& path, const ModelSection& model) {
    const std::string trainable = child_path(path, "trainable");
    auto requires_setting = [&](const std::string& part, bool present,
                                const std::string& setting_path, const std::string& setting) {
      if (contains(stage.trainable, part) && !present) {
        fail({trainable, setting_path}, shown(trainable) + " has " + quoted(part) + " but " +
                                            shown(setting_path) + " is " + setting);
      }
    };
    const std::string rank = child_path(path, "lora.rank");
    requires_setting("lora", stage.lora.rank > 0, rank, format_number(stage.lora.rank));
    requires_setting("projector", model.projector.type != ProjectorType::kNone,
                     "model.projector.type", "none");
    requires_setting("vision", model.vision.type != VisionType::kNone, "model.vision.type", "none");
    const std::string arch = "model.architecture";
    const std::string& arch_name = name_of(model.architecture);
    requires_setting("fusion", model.architecture == Architecture::kInverseLlava, arch, arch_name);
    requires_setting("vision_embedding", model.architecture == Architecture::kVora, arch,
                     arch_name);
    const std::string objective_key = child_path(path, "objective");
    for (const ObjectiveKind* kind : objectives_) {
      if (!kind->own_part.empty()) {
        requires_setting(kind->own_part, stage.objective == kind, objective_key,
                         stage.objective->word);
      }
    }
  }

  // Which objective fits which architecture.
  void objective(const Stage& stage, const std::string& path, const ModelSection& model) {
    const std::string objective_path = child_path(path, "objective");
    const Architecture needed = stage.objective->architecture.value_or(model.architecture);
    if (model.architecture != needed) {
      fail({objective_path, "model.architecture"},
           shown(objective_path) + " " + quoted(stage.objective->word) + " needs " +
               shown("model.architecture") + " " + quoted(name_of(needed)) + ", got " +
               quoted(name_of(model.architecture)));
    }
  }

  // What each architecture needs of the vision tower and projector.
  void architecture(const ModelSection& model) {
    const std::string arch = "model.architecture";
    const auto require = [&](bool holds, const std::string& key, const std::string& statement) {
      if (!holds)
        fail({key, arch}, shown(key) + " " + statement + " for " + shown(arch) + " " +
                              quoted(name_of(model.architecture)));
    };
    if (model.architecture == Architecture::kLlava) return;
    require(model.projector.type == ProjectorType::kNone, "model.projector.type", "must be none");
    require(model.vision.type != VisionType::kNone, "model.vision.type",
            "must name the vision tower (the teacher, for vora)");
    if (model.architecture == Architecture::kInverseLlava) fusion(model);
  }

  void fusion(const ModelSection& model) {
    const std::string layers = "model.fusion.layers";
    if (model.fusion.layers.size() > 1) {
      log::warn(
          "{} lists {} blocks: the Inverse-LLaVA paper found fusing in two (1 and 3) "
          "destabilised training",
          shown(layers), model.fusion.layers.size());
    }
    for (size_t i = 0; i < model.fusion.layers.size(); ++i) {
      if (model.fusion.layers[i] >= model.llm.num_layers) {
        fail({layers, "model.llm.num_layers"},
             shown(layers) + " has " + format_number(model.fusion.layers[i]) + " but " +
                 shown("model.llm.num_layers") + " is " + format_number(model.llm.num_layers));
      }
    }
    const std::string vision_layers = "model.fusion.vision_layers";
    const int64_t count = model.vision.num_layers;
    for (const int64_t layer : model.fusion.vision_layers) {
      const bool in_range = layer >= 0 ? layer <= count : layer + count >= -1;
      if (!in_range) {
        fail({vision_layers, "model.vision.num_layers"},
             shown(vision_layers) + " entries must be in [" + format_number(-(count + 1)) + ", " +
                 format_number(count) + "] for " + format_number(count) + " layers, got " +
                 format_number(layer));
      }
    }
  }

  void divisible(const std::string& dividend_path, int64_t dividend,
                 const std::string& divisor_path, int64_t divisor) {
    if (dividend % divisor != 0) {
      fail({divisor_path, dividend_path}, shown(dividend_path) + " (" + format_number(dividend) +
                                              ") must be divisible by " + shown(divisor_path) +
                                              " (" + format_number(divisor) + ")");
    }
  }

  // The key as the user wrote it ("training.lr" for a value every stage inherits).
  std::string shown(const std::string& resolved_path) const {
    return origins_.of(resolved_path).path;
  }

  [[noreturn]] void fail(const std::vector<std::string>& paths, const std::string& statement) {
    origins_.fail_about(paths, statement);
  }

  const Origins& origins_;
  const ObjectiveCatalogue& objectives_;
};

}  // namespace

void validate(const Recipe& recipe, const Origins& origins, const ObjectiveCatalogue& objectives) {
  // Field rules first: the cross rules below rely on them (positive divisors, known types).
  FieldChecker(origins).section(recipe, "");
  CrossChecker cross(origins, objectives);
  cross.model(recipe.model);
  for (size_t i = 0; i < recipe.stages.size(); ++i) cross.stage(recipe.stages[i], i, recipe.model);
  cross.unique_names(recipe.stages);
  cross.one_device(recipe.stages);
  cross.one_tokenizer(recipe.stages);
  cross.heartbeats(recipe.cluster);
}

}  // namespace vlm::recipes
