#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "data/corpus.h"
#include "tests/support/temp_dir.h"

namespace vlm::data {
namespace {

std::string write(const vlm::testing::TempDir& dir, const std::string& name,
                  const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

// Expects a FormatError whose message contains every part.
void expect_format_error(const std::string& path, const std::vector<std::string>& parts) {
  try {
    read_corpus(path);
    FAIL() << "no error for " << path;
  } catch (const FormatError& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "'" << part << "' not in: " << e.what();
    }
  }
}

TEST(Corpus, ReadsLlavaJsonArray) {
  vlm::testing::TempDir dir;
  const auto path = write(dir, "mix.json", R"([
    {"id": "000000033471", "image": "coco/train2017/000000033471.jpg",
     "conversations": [{"from": "human", "value": "<image>\nWhat colour?"},
                       {"from": "gpt", "value": "red"}]},
    {"id": 17, "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}],
     "category": "chat"},
    {"id": "multi", "image": ["a.jpg", "b.jpg"], "conversations": []}
  ])");
  const auto corpus = read_corpus(path);
  ASSERT_EQ(corpus.size(), 3u);
  EXPECT_EQ(corpus[0].id, "000000033471");
  EXPECT_EQ(corpus[0].images, std::vector<std::string>{"coco/train2017/000000033471.jpg"});
  ASSERT_EQ(corpus[0].turns.size(), 2u);
  EXPECT_EQ(corpus[0].turns[0].from, "human");
  EXPECT_EQ(corpus[0].turns[0].value, "<image>\nWhat colour?");
  EXPECT_EQ(corpus[0].turns[1].value, "red");
  EXPECT_EQ(corpus[1].id, "17");
  EXPECT_TRUE(corpus[1].images.empty());
  EXPECT_EQ(corpus[1].category, "chat");
  EXPECT_EQ(corpus[2].images, (std::vector<std::string>{"a.jpg", "b.jpg"}));
}

TEST(Corpus, ReadsVoraJsonLines) {
  vlm::testing::TempDir dir;
  const auto path = write(
      dir, "vora.jsonl",
      R"({"id": "v1", "frames": ["frames/v1.jpg"], "conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "a star"}]}
{"id": "v2", "frames": [], "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}

{"id": "v3", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
)");
  const auto corpus = read_corpus(path);
  ASSERT_EQ(corpus.size(), 3u);
  EXPECT_EQ(corpus[0].images, std::vector<std::string>{"frames/v1.jpg"});
  EXPECT_EQ(corpus[0].turns[0].from, "system");
  EXPECT_TRUE(corpus[1].images.empty());
  EXPECT_TRUE(corpus[2].images.empty());
  EXPECT_EQ(corpus[2].id, "v3");
}

TEST(Corpus, MalformedRecordNamesFileAndRecord) {
  vlm::testing::TempDir dir;
  expect_format_error(write(dir, "bad.json", R"([{"id": "a", "conversations": []},
      {"id": "b", "conversations": [{"from": "human"}]}])"),
                      {"bad.json", "record 1", "turn 0"});
  expect_format_error(write(dir, "noconv.json", R"([{"id": "a"}])"),
                      {"noconv.json", "record 0", "conversations"});
  expect_format_error(write(dir, "image.json", R"([{"id": "a", "image": 5, "conversations": []}])"),
                      {"image.json", "record 0", "image"});
  expect_format_error(write(dir, "object.json", R"({"id": "a"})"), {"object.json", "array"});
}

TEST(Corpus, JsonSyntaxErrorNamesTheLine) {
  vlm::testing::TempDir dir;
  expect_format_error(
      write(dir, "syntax.json", "[\n{\"id\": \"a\", \"conversations\": []},\n{\"id\": }\n]"),
      {"syntax.json:3"});
}

TEST(Corpus, MalformedJsonLineNamesTheLine) {
  vlm::testing::TempDir dir;
  expect_format_error(
      write(dir, "bad.jsonl",
            "{\"id\": \"a\", \"conversations\": []}\n\n{\"id\": \"b\", \"frames\": \"x\"\n"),
      {"bad.jsonl:3"});
  expect_format_error(
      write(dir, "frames.jsonl", "{\"id\": \"a\", \"frames\": [1], \"conversations\": []}\n"),
      {"frames.jsonl:1", "frames"});
}

TEST(Corpus, MissingFileSaysHowToMakeOne) {
  try {
    read_corpus("/nonexistent/llava_v1_5_mix665k.json");
    FAIL() << "no error";
  } catch (const IoError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("/nonexistent/llava_v1_5_mix665k.json"), std::string::npos);
    EXPECT_NE(message.find("scripts/demo.sh"), std::string::npos);
    EXPECT_NE(message.find("vlm-synth --out"), std::string::npos);
  }
}

}  // namespace
}  // namespace vlm::data
