// Which tokenizer a recipe trains with (data/run_tokenizer.h), on real files: the synthetic
// corpus's SentencePiece model and model folders made here.
#include "data/run_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/fixtures.h"
#include "worker/objective_kinds.h"

namespace vlm::data {
namespace {

using vlm::testing::synth_corpus_dir;

recipes::Recipe two_stage_recipe() {
  recipes::Recipe recipe;
  recipe.source_path = "run.yaml";
  recipe.stages.resize(2);
  recipe.stages[0].name = "pretrain";
  recipe.stages[1].name = "finetune";
  for (recipes::Stage& stage : recipe.stages) {
    stage.data.corpus_dir = synth_corpus_dir();
    stage.data.tokenizer = "tokenizer.model";
    stage.objective = &worker::kLlavaObjective;
  }
  return recipe;
}

void touch(const std::string& path) { std::ofstream(path) << "x"; }

// The message of the error `body` throws (of type E), or "" when it throws none.
template <typename E, typename Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(RunTokenizer, DataTokenizerIsRelativeToTheCorpus) {
  const recipes::Recipe recipe = two_stage_recipe();
  EXPECT_EQ(run_tokenizer_path(recipe), synth_corpus_dir() + "/tokenizer.model");
  // No vdep stage: nothing is added, the vocabulary is the model's pieces.
  const auto tokenizer = load_run_tokenizer(recipe);
  EXPECT_EQ(tokenizer->vocab_size(),
            load_tokenizer(synth_corpus_dir() + "/tokenizer.model")->vocab_size());
  EXPECT_THROW(tokenizer->special_id("<auto_image>"), ConfigError);
  EXPECT_TRUE(run_added_tokens(recipe).empty());
}

TEST(RunTokenizer, AVdepStageAddsAutoImage) {
  recipes::Recipe recipe = two_stage_recipe();
  recipe.stages[0].objective = &worker::kVdepObjective;
  EXPECT_EQ(run_added_tokens(recipe), std::vector<std::string>{"<auto_image>"});
  const auto tokenizer = load_run_tokenizer(recipe);
  const int64_t pieces = load_tokenizer(run_tokenizer_path(recipe))->vocab_size();
  EXPECT_EQ(tokenizer->vocab_size(), pieces + 1);
  EXPECT_EQ(tokenizer->special_id("<auto_image>"), pieces);
}

TEST(RunTokenizer, WithoutDataTokenizerTheLlmFolderHasIt) {
  vlm::testing::TempDir model;
  recipes::Recipe recipe = two_stage_recipe();
  for (recipes::Stage& stage : recipe.stages) stage.data.tokenizer.clear();
  recipe.model.llm.hf_path = model.path();
  touch(model.file("tokenizer.model"));
  EXPECT_EQ(run_tokenizer_path(recipe), model.file("tokenizer.model"));
  touch(model.file("tokenizer.json"));  // Hugging Face's own file comes first
  EXPECT_EQ(run_tokenizer_path(recipe), model.file("tokenizer.json"));
  // data.tokenizer, when set, wins over the model folder.
  recipe.stages[0].data.tokenizer = recipe.stages[1].data.tokenizer = "tokenizer.model";
  EXPECT_EQ(run_tokenizer_path(recipe), synth_corpus_dir() + "/tokenizer.model");
  // ... and may name a folder itself.
  recipe.stages[0].data.tokenizer = recipe.stages[1].data.tokenizer = model.path();
  EXPECT_EQ(run_tokenizer_path(recipe), model.file("tokenizer.json"));
}

TEST(RunTokenizer, NeitherKeyIsAConfigErrorNamingBoth) {
  recipes::Recipe recipe = two_stage_recipe();
  for (recipes::Stage& stage : recipe.stages) stage.data.tokenizer.clear();
  const std::string message = error_of<ConfigError>([&] { run_tokenizer_path(recipe); });
  EXPECT_NE(message.find("data.tokenizer"), std::string::npos) << message;
  EXPECT_NE(message.find("model.llm.hf_path"), std::string::npos) << message;
}

TEST(RunTokenizer, AMissingFileNamesTheKeyTheFolderAndWhatBelongsThere) {
  recipes::Recipe recipe = two_stage_recipe();
  for (recipes::Stage& stage : recipe.stages) stage.data.tokenizer = "vicuna/tokenizer.model";
  std::string message = error_of<IoError>([&] { load_run_tokenizer(recipe); });
  for (const std::string& part :
       {std::string("data.tokenizer"), synth_corpus_dir() + "/vicuna",
        std::string("tokenizer.json or tokenizer.model"), std::string("Hugging Face")}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
  }
  EXPECT_EQ(message.find("demo"), std::string::npos) << message;

  vlm::testing::TempDir empty;
  for (recipes::Stage& stage : recipe.stages) stage.data.tokenizer.clear();
  recipe.model.llm.hf_path = empty.path();
  message = error_of<IoError>([&] { load_run_tokenizer(recipe); });
  for (const std::string& part : {std::string("model.llm.hf_path"), empty.path(),
                                  std::string("tokenizer.json"), std::string("tokenizer.model")}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
  }
  EXPECT_EQ(message.find("demo"), std::string::npos) << message;
}

TEST(RunTokenizer, EveryStageMustHaveTheSameTokenizer) {
  vlm::testing::TempDir other;
  touch(other.file("tokenizer.model"));
  recipes::Recipe recipe = two_stage_recipe();
  recipe.stages[1].data.tokenizer = other.file("tokenizer.model");
  const std::string message = error_of<ConfigError>([&] { run_tokenizer_path(recipe); });
  EXPECT_NE(message.find("stages[1].data.tokenizer"), std::string::npos) << message;
  EXPECT_NE(message.find("one vocabulary"), std::string::npos) << message;
  // The same file named two ways is the same tokenizer.
  recipe.stages[1].data.tokenizer = synth_corpus_dir() + "/./tokenizer.model";
  EXPECT_EQ(run_tokenizer_path(recipe), synth_corpus_dir() + "/tokenizer.model");
}

}  // namespace
}  // namespace vlm::data
