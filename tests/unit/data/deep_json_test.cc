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
  files::write_atomically(array, "[" + nested(1'000'000) + "]");
  expect_depth_error([&] { read_corpus(array); }, array);
}

}  // namespace
}  // namespace vlm::data
