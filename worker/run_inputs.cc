#include "worker/run_inputs.h"

#include <filesystem>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/run_tokenizer.h"
#include "models/model.h"
#include "worker/trainer.h"

namespace vlm::worker {
namespace {

namespace fs = std::filesystem;

bool is_directory(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool is_file(const std::string& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

// A Hugging Face model folder: config.json and safetensors weights (one file or an index).
void check_model_folder(const std::string& key, const std::string& folder,
                        const std::string& repository) {
  VLM_CHECK(is_directory(folder), ConfigError, key, " is ", folder,
            ", which is not a folder: it should be a Hugging Face model folder (for example a "
            "snapshot of ",
            repository, ") with config.json and model.safetensors or model.safetensors.index.json");
  VLM_CHECK(is_file(files::join(folder, "config.json")), ConfigError, key, " ", folder,
            " has no config.json: it should be the model's Hugging Face folder (", repository, ")");
  const bool safetensors = is_file(files::join(folder, "model.safetensors")) ||
                           is_file(files::join(folder, "model.safetensors.index.json"));
  const bool pickles = is_file(files::join(folder, "pytorch_model.bin")) ||
                       is_file(files::join(folder, "pytorch_model.bin.index.json"));
  VLM_CHECK(safetensors, ConfigError, key, " ", folder,
            " has no model.safetensors or model.safetensors.index.json",
            pickles ? " (only pytorch_model.bin, which is not read: convert it to safetensors, "
                      "for example with transformers' save_pretrained(safe_serialization=True))"
                    : ": download the weights of " + repository + " into it");
}

void check_data(const recipes::Stage& stage, size_t index) {
  const std::string key = "stages[" + std::to_string(index) + "].data";
  const recipes::DataSection& data = stage.data;
  if (!data.json.empty()) {
    const std::string path = data::resolve(data, data.json);
    VLM_CHECK(is_file(path), ConfigError, key, ".json is ", data.json, ": no file ", path,
              " (relative paths are under data.corpus_dir, ", data.corpus_dir, ")");
    const std::string images = data::image_folder(data);
    VLM_CHECK(is_directory(images), ConfigError, key, ".image_root: ", images,
              " is not a folder (the images the corpus names are read under it)");
  }
  if (!data.shards.empty()) {
    const std::string folder = data::resolve(data, data.shards);
    VLM_CHECK(is_file(files::join(folder, "index.json")), ConfigError, key, ".shards is ",
              data.shards, ": ", folder, " has no index.json (a folder vlm-shard wrote)");
  }
}

}  // namespace

std::string check_run_inputs(const recipes::Recipe& recipe) {
  const recipes::ModelSection& model = recipe.model;
  if (!model.llm.hf_path.empty()) {
    check_model_folder("model.llm.hf_path", model.llm.hf_path, "the LLM's repository");
  }
  if (!model.vision.hf_path.empty()) {
    check_model_folder("model.vision.hf_path", model.vision.hf_path,
                       "the vision tower's repository");
  }
  for (size_t i = 0; i < recipe.stages.size(); ++i) check_data(recipe.stages[i], i);
  const recipes::Stage& first = recipe.stages.front();
  const std::shared_ptr<const data::Tokenizer> tokenizer = data::load_run_tokenizer(recipe);
  // The weights' names and shapes against the model, from the safetensors headers alone: a
  // shapes-only model (meta device) is "loaded", which checks and reads nothing else.
  if (!model.llm.hf_path.empty() || !model.vision.hf_path.empty()) {
    const int64_t vocab = model.llm.hf_path.empty() ? tokenizer->vocab_size() : 0;
    models::VisionLanguageModel shapes(model, vocab, first.training.seed, at::kMeta);
    if (!model.llm.hf_path.empty()) shapes.load_hf("llm", model.llm.hf_path);
    if (!model.vision.hf_path.empty()) shapes.load_hf("vision", model.vision.hf_path);
  }
  // Every stage's structure (LoRA on the blocks it names, added rows, aux heads, what trains) on
  // the run's model as it will be built, grown to the tokenizer.
  models::VisionLanguageModel run_model(model, tokenizer->vocab_size(), first.training.seed,
                                        at::kMeta);
  const int64_t rows = run_model.vocab_size();
  // The image processor the loader will use (the vision folder's preprocessor_config.json): read
  // and checked against the tower's input size now, not at the first image.
  data::model_image_processor(model.vision.hf_path, run_model.config().vision.image_size);
  for (const auto& stage : recipe.stages) {
    prepare_model(run_model, stage,
                  [&](const std::string& token) { return tokenizer->special_id(token); });
    finish_model(run_model, stage);
  }
  return "inputs checked: tokenizer " + data::run_tokenizer_path(recipe) + " (" +
         std::to_string(tokenizer->vocab_size()) + " tokens), the model's " + std::to_string(rows) +
         " embedding rows, " + std::to_string(recipe.stages.size()) +
         " stage(s), every corpus and model folder present";
}

}  // namespace vlm::worker
