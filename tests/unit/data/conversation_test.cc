// Templates and label masks: each expectation is written out by hand from RECIPES.md's rules
// (LLaVA's conversation.py and train.py for plain and vicuna_v1, VoRA's template code for qwen2).
// tests/e2e/test_template_reference.sh holds the same rules to an independent reference on real
// tokenizer files.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/conversation.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data {
namespace {

using recipes::Template;

using vlm::testing::expand;
using vlm::testing::Expected;
using vlm::testing::test_tokenizer;

constexpr int64_t kImageTokens = 3;
const std::string kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.";

Conversation two_rounds_with_image() {
  // "<image>" stands after the question: vicuna_v1 moves it to the front of the turn (LLaVA's
  // preprocess_multimodal), qwen2 leaves it there (VoRA).
  return {"sample-1",
          {"coco/train2017/000000000009.jpg"},
          {{"human", "What colour is the shape?\n<image>"},
           {"gpt", "red"},
           {"human", "Where is the shape?"},
           {"gpt", "top left"}},
          ""};
}

// Compares token by token, so a failure names the first position that differs.
void expect_tokens(const TokenizedSample& actual, const TokenizedSample& expected) {
  ASSERT_EQ(actual.input_ids.size(), expected.input_ids.size());
  for (size_t t = 0; t < expected.input_ids.size(); ++t) {
    EXPECT_EQ(actual.input_ids[t], expected.input_ids[t]) << "input id at position " << t;
    EXPECT_EQ(actual.labels[t], expected.labels[t]) << "label at position " << t;
  }
  EXPECT_EQ(actual.num_images, expected.num_images);
  EXPECT_EQ(actual.image_starts, expected.image_starts);
}

TokenizedSample tokenized(const Conversation& conversation, Template chat_template,
                          int64_t max_seq_len = 0) {
  return tokenize(render(conversation, chat_template), *test_tokenizer(), kImageTokens,
                  max_seq_len);
}

TEST(Templates, VicunaTwoRoundsWithImage) {
  const std::vector<Expected> expected = {
      {"<s>", false},
      {kVicunaSystem + " USER: ", false},
      {"<image>", false},
      {"\nWhat colour is the shape? ASSISTANT:", false},
      {"red", true},
      {"</s>", true},
      {"USER: Where is the shape? ASSISTANT:", false},
      {"top left", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(two_rounds_with_image(), Template::kVicunaV1),
                expand(expected, *test_tokenizer(), kImageTokens));
}

TEST(Templates, PlainIsImageThenCaption) {
  const Conversation conversation = {
      "cap-1",
      {"00000/000000001.jpg"},
      {{"human", "Describe the image briefly.\n<image>"}, {"gpt", "a red circle in the top left"}},
      ""};
  const std::vector<Expected> expected = {
      {"<s>", false},
      {"<image>", false},
      {"a red circle in the top left\n", true},
  };
  expect_tokens(tokenized(conversation, Template::kPlain),
                expand(expected, *test_tokenizer(), kImageTokens));
}

TEST(Templates, Qwen2TwoRoundsWithImage) {
  const std::vector<Expected> expected = {
      {"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat colour "
       "is the shape?\n",
       false},
      {"<image>", false},
      {"<|im_end|>\n<|im_start|>assistant\n", false},
      {"red", true},
      {"</s>", true},
      {"\n<|im_start|>user\nWhere is the shape?<|im_end|>\n<|im_start|>assistant\n", false},
      {"top left", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(two_rounds_with_image(), Template::kQwen2),
                expand(expected, *test_tokenizer(), kImageTokens));
}

TEST(Templates, SystemTurnOverridesTheSystemPrompt) {
  Conversation conversation = two_rounds_with_image();
  conversation.turns.insert(conversation.turns.begin(), {"system", "Answer in one word."});
  conversation.turns.resize(3);
  const std::vector<Expected> qwen = {
      {"<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nWhat colour is the "
       "shape?\n",
       false},
      {"<image>", false},
      {"<|im_end|>\n<|im_start|>assistant\n", false},
      {"red", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(conversation, Template::kQwen2),
                expand(qwen, *test_tokenizer(), kImageTokens));
  const std::vector<Expected> vicuna = {
      {"<s>", false},     {"Answer in one word. USER: ", false},
      {"<image>", false}, {"\nWhat colour is the shape? ASSISTANT:", false},
      {"red", true},      {"</s>", true},
  };
  expect_tokens(tokenized(conversation, Template::kVicunaV1),
                expand(vicuna, *test_tokenizer(), kImageTokens));
}

TEST(Templates, TextOnlySample) {
  const Conversation conversation = {
      "text-1", {}, {{"human", "What is the opposite of left?"}, {"gpt", "right"}}, ""};
  const std::vector<Expected> expected = {
      {"<s>", false},
      {kVicunaSystem + " USER: What is the opposite of left? ASSISTANT:", false},
      {"right", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(conversation, Template::kVicunaV1),
                expand(expected, *test_tokenizer(), kImageTokens));
}

// LLaVA's preprocess_multimodal strips what is left of a turn as Python's str.strip() does (all
// of Unicode's white space), and a turn that is only "<image>" leaves "USER: <image> ASSISTANT:".
TEST(Templates, VicunaStripsAsPythonAndKeepsALoneImage) {
  Conversation spaced = two_rounds_with_image();
  spaced.turns[0].value = "\u3000<image>\u00a0 What colour is the shape?\u2003\n";
  Conversation plain = two_rounds_with_image();
  plain.turns[0].value = "<image>\nWhat colour is the shape?";
  expect_tokens(tokenized(spaced, Template::kVicunaV1), tokenized(plain, Template::kVicunaV1));

  Conversation alone = two_rounds_with_image();
  alone.turns[0].value = " <image> ";
  alone.turns.resize(2);
  const std::vector<Expected> expected = {
      {"<s>", false},     {kVicunaSystem + " USER: ", false},
      {"<image>", false}, {" ASSISTANT:", false},
      {"red", true},      {"</s>", true},
  };
  expect_tokens(tokenized(alone, Template::kVicunaV1),
                expand(expected, *test_tokenizer(), kImageTokens));
}

// VoRA leaves each placeholder where the data put it and strips nothing.
TEST(Templates, Qwen2KeepsEachPlaceholderWhereItStands) {
  Conversation conversation = two_rounds_with_image();
  conversation.images.push_back("second.jpg");
  conversation.turns[0].value = " Compare <image> with <image>";
  conversation.turns.resize(2);
  const std::vector<Expected> expected = {
      {"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n Compare ",
       false},
      {"<image>", false},
      {" with ", false},
      {"<image>", false},
      {"<|im_end|>\n<|im_start|>assistant\n", false},
      {"red", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(conversation, Template::kQwen2),
                expand(expected, *test_tokenizer(), kImageTokens));
}

// VoRA's documented format: one frame and a question without "<image>"; VoRA's processor puts
// the placeholder in front of the first question. LLaVA's templates refuse it, naming why.
TEST(Templates, Qwen2PlacesTheImageOfARecordWithoutPlaceholder) {
  Conversation conversation = two_rounds_with_image();
  conversation.turns[0].value = "Describe this image in detail.";
  const std::vector<Expected> expected = {
      {"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", false},
      {"<image>", false},
      {"Describe this image in detail.<|im_end|>\n<|im_start|>assistant\n", false},
      {"red", true},
      {"</s>", true},
      {"\n<|im_start|>user\nWhere is the shape?<|im_end|>\n<|im_start|>assistant\n", false},
      {"top left", true},
      {"</s>", true},
  };
  expect_tokens(tokenized(conversation, Template::kQwen2),
                expand(expected, *test_tokenizer(), kImageTokens));
  try {
    render(conversation, Template::kVicunaV1);
    FAIL() << "vicuna_v1 rendered an image without placeholder";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("only the qwen2 template"), std::string::npos) << e.what();
  }
  conversation.images.push_back("second.jpg");  // two images: nothing says where they go
  EXPECT_THROW(render(conversation, Template::kQwen2), FormatError);
}

TEST(Templates, FirstTurnFromGptIsSkipped) {
  Conversation with_greeting = two_rounds_with_image();
  with_greeting.turns.insert(with_greeting.turns.begin(), {"gpt", "Hello! Ask me anything."});
  for (const Template name : {Template::kVicunaV1, Template::kQwen2}) {
    expect_tokens(tokenized(with_greeting, name), tokenized(two_rounds_with_image(), name));
  }
}

TEST(Templates, ImageSlotsNeverCarryLabels) {
  const TokenizedSample sample = tokenized(two_rounds_with_image(), Template::kVicunaV1);
  for (size_t t = 0; t < sample.input_ids.size(); ++t) {
    if (sample.input_ids[t] == kImageToken) {
      EXPECT_EQ(sample.labels[t], kIgnoreLabel);
    }
  }
  ASSERT_EQ(sample.image_starts.size(), 1u);
  EXPECT_EQ(sample.input_ids[static_cast<size_t>(sample.image_starts[0])], kImageToken);
}

TEST(Templates, PromptEqualsTheTrainingPrefix) {
  const Conversation conversation = two_rounds_with_image();
  for (const Template name : {Template::kPlain, Template::kVicunaV1, Template::kQwen2}) {
    Conversation source = conversation;
    if (name == Template::kPlain) source.turns.resize(2);
    const TokenizedSample full = tokenized(source, name);
    const TokenizedSample prompt =
        tokenize(render_prompt(source, name), *test_tokenizer(), kImageTokens, 0);
    ASSERT_LT(prompt.input_ids.size(), full.input_ids.size()) << name_of(name);
    EXPECT_TRUE(
        std::equal(prompt.input_ids.begin(), prompt.input_ids.end(), full.input_ids.begin()))
        << name_of(name);
    // What follows the prompt is the last answer, all labelled.
    for (size_t t = prompt.input_ids.size(); t < full.input_ids.size(); ++t) {
      EXPECT_NE(full.labels[t], kIgnoreLabel) << name_of(name) << " position " << t;
    }
  }
}

TEST(Truncation, DropsWholeRoundsFromTheEnd) {
  Conversation three = two_rounds_with_image();
  three.turns.push_back({"human", "Which shape is shown?"});
  three.turns.push_back({"gpt", "circle"});
  const TokenizedSample full = tokenized(three, Template::kVicunaV1);
  const TokenizedSample two = tokenized(two_rounds_with_image(), Template::kVicunaV1);
  ASSERT_LT(two.input_ids.size(), full.input_ids.size());
  // Any limit between two rounds and three keeps exactly the first two rounds.
  for (size_t limit = two.input_ids.size(); limit < full.input_ids.size(); ++limit) {
    expect_tokens(tokenized(three, Template::kVicunaV1, static_cast<int64_t>(limit)), two);
  }
  expect_tokens(tokenized(three, Template::kVicunaV1, static_cast<int64_t>(full.input_ids.size())),
                full);
}

TEST(Truncation, TooLongFirstRoundIsCutKeepingItsImage) {
  const TokenizedSample full = tokenized(two_rounds_with_image(), Template::kVicunaV1);
  const int64_t image_end = full.image_starts[0] + kImageTokens;
  const TokenizedSample cut =
      tokenized(two_rounds_with_image(), Template::kVicunaV1, image_end + 2);
  ASSERT_EQ(cut.input_ids.size(), static_cast<size_t>(image_end + 2));
  EXPECT_EQ(cut.num_images, 1);
  EXPECT_TRUE(std::equal(cut.input_ids.begin(), cut.input_ids.end(), full.input_ids.begin()));
  EXPECT_THROW(tokenized(two_rounds_with_image(), Template::kVicunaV1, image_end - 1), FormatError);
}

TEST(Truncation, DroppedRoundsTakeTheirImages) {
  Conversation conversation = two_rounds_with_image();
  conversation.images.push_back("second.jpg");
  conversation.turns[2].value = "<image>\nWhere is the shape?";
  const TokenizedSample full = tokenized(conversation, Template::kVicunaV1);
  ASSERT_EQ(full.num_images, 2);
  const TokenizedSample one =
      tokenized(conversation, Template::kVicunaV1, full.image_starts[1] + 1);
  EXPECT_EQ(one.num_images, 1);
  EXPECT_EQ(one.image_starts.size(), 1u);
}

TEST(Templates, MalformedConversationsAreFormatErrors) {
  const auto render_vicuna = [](Conversation c) { return render(c, Template::kVicunaV1); };
  EXPECT_THROW(render_vicuna({"empty", {}, {}, ""}), FormatError);
  EXPECT_THROW(render_vicuna({"only-gpt", {}, {{"gpt", "hi"}}, ""}), FormatError);
  EXPECT_THROW(render_vicuna({"two-humans", {}, {{"human", "a"}, {"human", "b"}}, ""}),
               FormatError);
  EXPECT_THROW(render_vicuna({"no-answer", {}, {{"human", "a"}, {"gpt", "b"}, {"human", "c"}}, ""}),
               FormatError);
  EXPECT_THROW(render_vicuna({"late-system", {}, {{"human", "a"}, {"system", "b"}}, ""}),
               FormatError);
  EXPECT_THROW(render_vicuna({"missing-image", {"x.jpg"}, {{"human", "a"}, {"gpt", "b"}}, ""}),
               FormatError);
  EXPECT_THROW(
      render_vicuna({"extra-placeholder", {}, {{"human", "<image>\na"}, {"gpt", "b"}}, ""}),
      FormatError);
  EXPECT_THROW(
      render_vicuna({"image-in-answer", {"x.jpg"}, {{"human", "a"}, {"gpt", "<image>"}}, ""}),
      FormatError);
  EXPECT_THROW(
      render({"two-rounds", {}, {{"human", "a"}, {"gpt", "b"}, {"human", "c"}, {"gpt", "d"}}, ""},
             Template::kPlain),
      FormatError);
}

TEST(Templates, ErrorsNameTheConversation) {
  try {
    render({"rec-42", {}, {{"human", "a"}, {"human", "b"}}, ""}, Template::kQwen2);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("rec-42"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vlm::data
