// Robustness in the spirit of a fuzzer: mangled recipes and overrides either load or throw a
// vlm::Error; never another exception, never a crash (the suite also runs under ASan/UBSan).
// Whatever loads must survive dump() and load again unchanged.
#include <gtest/gtest.h>

#include <cstdint>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/files.h"
#include "recipes/load.h"
#include "tests/unit/recipes/recipe_test_util.h"

namespace vlm::recipes {
namespace {

using testing::load_recipe_text;

// Bytes that change YAML's structure, drawn more often than uniform bytes would be.
const std::string kYamlBytes = ":-[]{},#&*!|>'\"%@`?\n\t 0123456789.e";

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : random_(seed) {}

  std::string mutate(std::string text) {
    const int edits = 1 + below(4);
    for (int i = 0; i < edits && !text.empty(); ++i) {
      const size_t at = below(text.size());
      switch (below(6)) {
        case 0:
          text[at] = static_cast<char>(below(256));
          break;
        case 1:
          text[at] = kYamlBytes[below(kYamlBytes.size())];
          break;
        case 2:
          text.insert(at, 1, kYamlBytes[below(kYamlBytes.size())]);
          break;
        case 3:
          text.erase(at, 1 + below(8));
          break;
        case 4:  // repeat a chunk: duplicated keys, deeper nesting
          text.insert(at, text.substr(below(text.size()), 1 + below(40)));
          break;
        default:
          text.resize(at);
          break;
      }
    }
    return text;
  }

  std::string pick(const std::vector<std::string>& choices) {
    return choices[below(choices.size())];
  }
  size_t below(size_t bound) {
    return std::uniform_int_distribution<size_t>(0, bound - 1)(random_);
  }

 private:
  std::mt19937 random_;
};

struct Outcome {
  bool loaded = false;
  std::string failure;  // empty: a recipe or a vlm::Error, as it should be
};

// Loads; on success also checks the round trip through dump().
Outcome try_load(const std::string& text, const std::vector<std::string>& overrides) {
  Outcome outcome;
  try {
    const Recipe recipe = load_recipe_text(text, "fuzz.yaml", overrides);
    outcome.loaded = true;
    if (!equivalent(load_recipe_text(dump(recipe), "resolved"), recipe)) {
      outcome.failure = "round trip differs";
    }
  } catch (const vlm::Error&) {
    // The expected outcome for most inputs.
  } catch (const std::exception& error) {
    outcome.failure = std::string("non-vlm exception: ") + error.what();
  } catch (...) {
    outcome.failure = "unknown exception";
  }
  return outcome;
}

TEST(RecipeFuzz, MutatedRecipeTextLoadsOrThrowsAVlmError) {
  const std::string base = files::read_all(testing::repo_path("recipes/tiny/llava_two_stage.yaml"));
  Mutator mutator(20261121);
  int loaded = 0;
  constexpr int kCases = 3000;
  for (int i = 0; i < kCases; ++i) {
    const std::string text = mutator.mutate(base);
    const Outcome outcome = try_load(text, {});
    ASSERT_EQ(outcome.failure, "") << "case " << i << ", input:\n" << text;
    loaded += outcome.loaded ? 1 : 0;
  }
  // Mutations in comments and values keep many inputs valid: both paths get exercised.
  EXPECT_GT(loaded, kCases / 20);
  EXPECT_LT(loaded, kCases);
}

TEST(RecipeFuzz, RandomOverridesLoadOrThrowAVlmError) {
  const std::vector<std::string> keys = {
      "stages", "0",      "1",         "7",   "optimizer", "lr",   "training", "max_steps", "model",
      "llm",    "preset", "trainable", "[1]", "",          "data", "json",     "run_dir",   "x"};
  const std::vector<std::string> values = {"1",     "-1",      "2e-5",
                                           "abc",   "",        "[",
                                           "]",     "{a: 1}",  "[projector, llm]",
                                           "~",     "&a [*a]", "{lr: 1}",
                                           "\"",    "tiny",    "vicuna-7b+clip-vit-l-336",
                                           "1e999", "true"};
  Mutator mutator(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::string> overrides;
    const size_t count = 1 + mutator.below(3);
    for (size_t j = 0; j < count; ++j) {
      std::string path = mutator.pick(keys);
      const size_t depth = mutator.below(4);
      for (size_t k = 0; k < depth; ++k) path += "." + mutator.pick(keys);
      overrides.push_back(mutator.below(10) == 0 ? path : path + "=" + mutator.pick(values));
    }
    std::string shown;
    for (const std::string& text : overrides) shown += " --set '" + text + "'";
    ASSERT_EQ(try_load(testing::kTwoStage, overrides).failure, "") << "case " << i << ":" << shown;
  }
}

TEST(RecipeFuzz, HostileYamlShapes) {
  const std::vector<std::string> inputs = {
      "stages: &a [*a]\n",
      "model: &m {llm: *m}\n",
      "data: &d {json: *d}\n",
      "a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
      std::string(20000, '[') + std::string(20000, ']'),
      std::string(20000, '{'),
      "? [a, b]\n: 1\n",
      "? {a: 1}\n: 1\n",
      "!!binary aGVsbG8=\n",
      "run_dir: !!int abc\ndata: {json: a.json}\n",
      "run_dir: \"\\u0000\"\ndata: {json: a.json}\n",
      "\xef\xbb\xbfrun_dir: r\ndata: {json: a.json}\n",
      "\xff\xfe\x00r\x00",
      "data: {json: a.json}\ntraining: {seed: 18446744073709551616}\n",
      "data: {json: a.json}\ntraining: {max_steps: -9223372036854775808}\n",
      "data: {json: a.json}\nmodel: {llm: {num_layers: 9223372036854775807}, vision: "
      "{num_layers: 9223372036854775807, feature_layer: -9223372036854775808}}\n",
  };
  for (const std::string& input : inputs) {
    EXPECT_EQ(try_load(input, {}).failure, "") << input.substr(0, 80);
    EXPECT_EQ(try_load(input, {"stages.0.name=x"}).failure, "") << input.substr(0, 80);
  }
}

}  // namespace
}  // namespace vlm::recipes
