// Issue 18, item 8: JSON nested a million deep in a tokenizer.json or a corpus ended the process
// on a stack overflow (a recursive dump for the error message); it is refused as the parser
// meets the depth, with the file named.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "data/corpus.h"
#include "data/hf_tokenizer_spec.h"
#include "tests/support/temp_dir.h"

namespace vlm::data {
namespace {

std::string nested(int depth, const std::string& inner = "1") {
  return std::string(static_cast<size_t>(depth), '[') + inner +
         std::string(static_cast<size_t>(depth), ']');
}

void expect_depth_error(const std::function<void()>& read, const std::string& path) {
  try {
    read();
    ADD_FAILURE() << path << " was accepted";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("nested deeper than"), std::string::npos) << message;
    EXPECT_LT(message.size(), 1000u);
  }
}

TEST(DeepJson, ATokenizerNestedAMillionDeepIsAFormatError) {
  testing::TempDir dir;
  const std::string path = dir.file("tokenizer.json");
  files::write_atomically(path,
                          R"({"model": {"type": "BPE", "merges": )" + nested(1'000'000) + "}}");
  expect_depth_error([&] { read_hf_tokenizer_spec(path); }, path);
}

TEST(DeepJson, CorpusRecordsNestedDeepAreFormatErrors) {
  testing::TempDir dir;
  const std::string lines = dir.file("corpus.jsonl");
  files::write_atomically(lines, R"({"id": "a", "conversations": )" + nested(1'000'000) + "}\n");
  expect_depth_error([&] { read_corpus(lines); }, lines);
  const std::string array = dir.file("corpus.json");
  files::write_atomically(array,
                          R"([{"id": "a", "conversations": )" + nested(1'000'000) + "}]");
  expect_depth_error([&] { read_corpus(array); }, array);
}

// vlm-shard's streaming parser had no bound: a record nested 100,000 deep in a key the schema
// ignores was written into a shard whole, while read_corpus (training from JSON) refused it. Both
// now bound a record alike, in a JSON array and in JSON Lines, to the level.
TEST(DeepJson, ParseRecordRefusesWhatReadCorpusRefuses) {
  testing::TempDir dir;
  const std::string turns =
      R"("conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello"}])";
  const auto record = [&](int depth) {
    return R"({"id": "a", "nest": )" + nested(depth) + ", " + turns + "}";
  };
  const auto accepted = [](const std::function<void()>& read) {
    try {
      read();
      return true;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
      return false;
    }
  };
  bool saw_both = false;
  for (int depth = 58; depth <= 66; ++depth) {
    const std::string text = record(depth);
    files::write_atomically(dir.file("c.json"), "[" + text + "]");
    files::write_atomically(dir.file("c.jsonl"), text + "\n");
    const bool by_sax = accepted([&] { parse_record(text); });
    EXPECT_EQ(accepted([&] { read_corpus(dir.file("c.json")); }), by_sax) << depth;
    EXPECT_EQ(accepted([&] { read_corpus(dir.file("c.jsonl")); }), by_sax) << depth;
    saw_both = saw_both || (depth > 58 && by_sax != accepted([&] { parse_record(record(58)); }));
  }
  EXPECT_TRUE(saw_both) << "the bound lies outside depths 58..66";
  try {
    parse_record(R"({"id": "a", "nest": )" + nested(100'000) + ", " + turns + "}");
    ADD_FAILURE() << "a record nested 100,000 deep was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 64 levels"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vlm::data
