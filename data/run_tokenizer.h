// The one tokenizer of a run, found from its recipe: the trainer, vlm-eval, the checkpoint export
// and the loader benchmark all take it from here, so that they agree on the vocabulary.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "recipes/recipe.h"

namespace vlm::data {

// The tokenizer file a recipe trains with:
// - the first stage's data.tokenizer when it is set (a tokenizer.json, a tokenizer.model or a
//   model folder; relative to that stage's data.corpus_dir, as data::resolve has it);
// - otherwise the LLM's model folder, model.llm.hf_path (its tokenizer.json, else its
//   tokenizer.model);
// - otherwise a ConfigError naming both keys.
// Every stage must come to the same file (a run has one vocabulary): a ConfigError names the first
// stage key that does not. A missing file or folder is an IoError naming the key, the folder and
// what belongs in it.
std::string run_tokenizer_path(const recipes::Recipe& recipe);

// The tokens a recipe adds to its tokenizer's vocabulary: "<auto_image>" when a stage's objective
// is vdep, nothing otherwise.
std::vector<std::string> run_added_tokens(const recipes::Recipe& recipe);

// load_tokenizer(run_tokenizer_path(recipe), run_added_tokens(recipe)).
std::unique_ptr<Tokenizer> load_run_tokenizer(const recipes::Recipe& recipe);

}  // namespace vlm::data
