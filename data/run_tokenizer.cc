// The run's tokenizer from its recipe: see data/run_tokenizer.h.
#include "data/run_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "common/files.h"
#include "data/loader.h"

namespace vlm::data {
namespace {

constexpr char kWhatBelongs[] =
    "the tokenizer.json or tokenizer.model from the model's Hugging Face repository";

// Where a stage's keys say its tokenizer is, before looking at the disk.
struct Named {
  std::string path;
  std::string key;  // the recipe key that named it
};

Named stage_tokenizer(const recipes::Recipe& recipe, size_t index) {
  const recipes::Stage& stage = recipe.stages[index];
  if (!stage.data.tokenizer.empty()) {
    return {resolve(stage.data, stage.data.tokenizer), "data.tokenizer"};
  }
  VLM_CHECK(!recipe.model.llm.hf_path.empty(), ConfigError, recipe.source_path, ": stage '",
            stage.name,
            "' has no tokenizer: set data.tokenizer (a tokenizer.json, tokenizer.model or model "
            "folder, relative to data.corpus_dir) or model.llm.hf_path (the LLM's model folder, "
            "which holds its tokenizer)");
  return {recipe.model.llm.hf_path, "model.llm.hf_path"};
}

// The file a named path is: itself, or a folder's tokenizer.json (else tokenizer.model).
std::string tokenizer_file(const Named& named, const recipes::Recipe& recipe) {
  std::error_code error;
  if (std::filesystem::is_directory(named.path, error)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
      const std::string file = files::join(named.path, name);
      if (files::exists(file)) return file;
    }
    VLM_THROW(IoError, recipe.source_path, ": ", named.key, " names the folder ", named.path,
              ", which has neither tokenizer.json nor tokenizer.model: put ", kWhatBelongs,
              " in it");
  }
  // The tiny recipes' tokenizer comes with their synthetic corpus: say so to a user who lacks both.
  const char* corpus_hint =
      named.key == "data.tokenizer" ? " (vlm-synth --out DIR writes a corpus with its own)" : "";
  VLM_CHECK(files::exists(named.path), IoError, recipe.source_path, ": ", named.key, " names ",
            named.path, ", which does not exist: put ", kWhatBelongs, " in ",
            files::parent(named.path), ", or point ", named.key, " at it", corpus_hint);
  return named.path;
}

}  // namespace

std::string run_tokenizer_path(const recipes::Recipe& recipe) {
  VLM_CHECK(!recipe.stages.empty(), ConfigError, recipe.source_path, ": the recipe has no stages");
  const std::string first = tokenizer_file(stage_tokenizer(recipe, 0), recipe);
  const auto same_file = [](const std::string& a, const std::string& b) {
    return std::filesystem::path(a).lexically_normal() ==
           std::filesystem::path(b).lexically_normal();
  };
  for (size_t i = 1; i < recipe.stages.size(); ++i) {
    const Named named = stage_tokenizer(recipe, i);
    const std::string file = tokenizer_file(named, recipe);
    const std::string stage_key = "stages[" + std::to_string(i) + "]";
    const std::string key = named.key == "data.tokenizer"
                                ? stage_key + ".data.tokenizer"
                                : "model.llm.hf_path (" + stage_key + " sets no data.tokenizer)";
    VLM_CHECK(same_file(file, first), ConfigError, recipe.source_path, ": ", key, " gives stage '",
              recipe.stages[i].name, "' the tokenizer ", file, ", but stage '",
              recipe.stages[0].name, "' has ", first,
              ": a run has one vocabulary (set data.tokenizer once, at the top level)");
  }
  return first;
}

std::vector<std::string> run_added_tokens(const recipes::Recipe& recipe) {
  std::vector<std::string> tokens;
  for (const recipes::Stage& stage : recipe.stages) {
    for (const std::string& token : stage.objective->added_tokens) {
      if (std::find(tokens.begin(), tokens.end(), token) == tokens.end()) tokens.push_back(token);
    }
  }
  return tokens;
}

std::unique_ptr<Tokenizer> load_run_tokenizer(const recipes::Recipe& recipe) {
  return load_tokenizer(run_tokenizer_path(recipe), run_added_tokens(recipe));
}

}  // namespace vlm::data
