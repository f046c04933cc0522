#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/error.h"
#include "data/tokenizer.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data {
namespace {

using vlm::testing::test_tokenizer;

TEST(Tokenizer, SpecialTokensMapToTheirIds) {
  const auto tokenizer = test_tokenizer();
  EXPECT_EQ(tokenizer->encode("<image>"), std::vector<int32_t>{kImageToken});
  EXPECT_EQ(tokenizer->encode("<s>"), std::vector<int32_t>{tokenizer->bos_id()});
  EXPECT_EQ(tokenizer->encode("</s>"), std::vector<int32_t>{tokenizer->eos_id()});
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  const int32_t im_start = tokenizer->special_id("<|im_start|>");
  const int32_t im_end = tokenizer->special_id("<|im_end|>");
  EXPECT_NE(im_start, im_end);
  EXPECT_EQ(tokenizer->piece(im_start), "<|im_start|>");
  EXPECT_EQ(tokenizer->encode("<|im_start|><|im_end|>"), (std::vector<int32_t>{im_start, im_end}));
  EXPECT_EQ(tokenizer->special_id("<image>"), kImageToken);
  EXPECT_THROW(tokenizer->special_id("<video>"), ConfigError);
}

TEST(Tokenizer, NothingIsAddedUnasked) {
  const auto tokenizer = test_tokenizer();
  EXPECT_THROW(tokenizer->special_id("<auto_image>"), ConfigError);
  EXPECT_GT(tokenizer->encode("<auto_image>").size(), 1u);  // plain text
  // vocab_size() is the model's piece count: the last id is a piece.
  EXPECT_NO_THROW(tokenizer->piece(static_cast<int32_t>(tokenizer->vocab_size() - 1)));
  EXPECT_THROW(tokenizer->piece(static_cast<int32_t>(tokenizer->vocab_size())), InternalError);
}

TEST(Tokenizer, AddedTokensComeAfterThePieces) {
  const int64_t pieces = test_tokenizer()->vocab_size();
  const auto tokenizer = load_sentencepiece(vlm::testing::test_tokenizer_model(),
                                            {"<auto_image>", "<|im_end|>", "<extra>"});
  const int32_t auto_image = tokenizer->special_id("<auto_image>");
  EXPECT_EQ(auto_image, pieces);
  EXPECT_EQ(tokenizer->special_id("<extra>"), pieces + 1);
  // The model's own user-defined symbol keeps its id.
  EXPECT_EQ(tokenizer->special_id("<|im_end|>"), test_tokenizer()->special_id("<|im_end|>"));
  EXPECT_EQ(tokenizer->vocab_size(), pieces + 2);
  EXPECT_EQ(tokenizer->encode("<auto_image>"), std::vector<int32_t>{auto_image});
  EXPECT_EQ(tokenizer->decode({auto_image, kImageToken}), "<auto_image><image>");
  EXPECT_EQ(tokenizer->piece(auto_image), "<auto_image>");
  EXPECT_THROW(load_sentencepiece(vlm::testing::test_tokenizer_model(), {"<image>"}), ConfigError);
  // load_tokenizer reads a .model the same way.
  EXPECT_EQ(load_tokenizer(vlm::testing::test_tokenizer_model(), {"<auto_image>"})->vocab_size(),
            pieces + 1);
}

TEST(Tokenizer, PadsWithEosWhenTheModelHasNoPadPiece) {
  EXPECT_EQ(test_tokenizer()->pad_id(), test_tokenizer()->eos_id());
}

TEST(Tokenizer, DecodeInvertsEncode) {
  const auto tokenizer = test_tokenizer();
  for (const std::string text :
       {"a red circle in the top left\n", "What colour is the shape?\nAnswer: blue",
        "  two leading spaces", "USER: <image>\nWhere is the shape? ASSISTANT: top left</s>",
        "<|im_start|>user\nWhich shape is shown?<|im_end|>\n<|im_start|>assistant\n",
        "<s>the green star</s>", "trailing space ", "the shape\n\nis red\n"}) {
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << text;
  }
}

TEST(Tokenizer, SegmentsEncodedSeparatelyEqualTheTextJoinedBySpaces) {
  const auto tokenizer = test_tokenizer();
  auto joined = tokenizer->encode("USER: What colour is the shape? ASSISTANT:");
  auto first = tokenizer->encode("USER: What colour is the shape?");
  const auto second = tokenizer->encode("ASSISTANT:");
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(first, joined);
}

TEST(Tokenizer, CommonWordsAreSinglePieces) {
  const auto tokenizer = test_tokenizer();
  for (const std::string word : {"red", "circle", "square", "left", "shape", "assistant"}) {
    const auto ids = tokenizer->encode(word);
    ASSERT_EQ(ids.size(), 1u) << word;
    EXPECT_EQ(tokenizer->piece(ids[0]), "\xe2\x96\x81" + word);  // "▁" + word
  }
}

TEST(Tokenizer, TextAfterASpecialTokenContinuesWithoutPrefix) {
  const auto tokenizer = test_tokenizer();
  const auto ids = tokenizer->encode("<|im_start|>user\n");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(tokenizer->piece(ids[1]).rfind("\xe2\x96\x81", 0), std::string::npos);
}

TEST(Tokenizer, MissingModelIsAnIoErrorNamingIt) {
  try {
    load_sentencepiece("/nonexistent/tokenizer.model");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.model"), std::string::npos)
        << e.what();
  }
}

TEST(Tokenizer, GarbageModelIsAFormatError) {
  vlm::testing::TempDir dir;
  std::FILE* file = std::fopen(dir.file("bad.model").c_str(), "wb");
  std::fputs("this is not a model", file);
  std::fclose(file);
  EXPECT_THROW(load_sentencepiece(dir.file("bad.model")), FormatError);
}

TEST(Tokenizer, TrainingIsDeterministic) {
  vlm::testing::TempDir dir;
  const std::vector<std::string> lines = {"one two three", "two three four", "three four five"};
  train_sentencepiece(lines, dir.file("a"), 60, {"<|x|>"});
  train_sentencepiece(lines, dir.file("b"), 60, {"<|x|>"});
  std::ifstream a(dir.file("a.model"), std::ios::binary), b(dir.file("b.model"), std::ios::binary);
  const std::string bytes_a((std::istreambuf_iterator<char>(a)), {});
  const std::string bytes_b((std::istreambuf_iterator<char>(b)), {});
  EXPECT_FALSE(bytes_a.empty());
  EXPECT_EQ(bytes_a, bytes_b);
}

TEST(Tokenizer, ByteFallbackRoundTripsUnseenCharacters) {
  vlm::testing::TempDir dir;
  train_sentencepiece({"plain ascii words only", "more plain words"}, dir.file("m"), 400, {}, true);
  const auto tokenizer = load_sentencepiece(dir.file("m.model"));
  const std::string text = "caf\xc3\xa9 \xe2\x9c\x93";  // "café ✓"
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text);
}

}  // namespace
}  // namespace vlm::data
