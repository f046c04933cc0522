// Conversations as the corpora store them, and the templates that turn them into tokens with
// labels (RECIPES.md: plain, vicuna_v1, qwen2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace vlm::data {

constexpr int32_t kIgnoreLabel = -100;

struct Turn {
  std::string from;  // human | gpt | system
  std::string value;
};

struct Conversation {
  std::string id;
  std::vector<std::string> images;  // paths relative to the image root; empty: text-only
  std::vector<Turn> turns;
  std::string category;  // optional "category" field (eval sets: colour, shape, position)
};

// A piece of a rendered conversation: text, or one image; trainable pieces carry labels.
struct Segment {
  enum class Kind { kText, kImage, kBos };
  Kind kind = Kind::kText;
  std::string text;
  bool trainable = false;
};

// Renders a conversation with a template ("plain", "vicuna_v1", "qwen2") into segments, in order.
// The rules (RECIPES.md): plain = BOS, image, caption, "\n" (loss on caption and "\n");
// vicuna_v1 = BOS, system prompt, "USER: q ASSISTANT: a</s>" rounds (loss on each a</s>), with
// "<image>" moved to the front of its turn as "<image>\n"; qwen2 = the im_start/im_end form.
// Throws FormatError for a conversation the template cannot use (empty, wrong turn order).
std::vector<Segment> render(const Conversation& conversation, const std::string& template_name);

// A tokenized sample: input ids with image slots, and labels aligned with them (kIgnoreLabel
// where no loss; the loss shifts by one itself).
struct TokenizedSample {
  std::vector<int32_t> input_ids;  // kImageToken at each image-token position
  std::vector<int32_t> labels;
  int64_t num_images = 0;
  std::vector<int64_t> image_starts;  // first position of each image's tokens
};

// Tokenizes segments: each image becomes image_tokens copies of kImageToken. Truncates to
// max_seq_len by dropping whole rounds from the end (never the first round).
TokenizedSample tokenize(const std::vector<Segment>& segments, const Tokenizer& tokenizer,
                         int64_t image_tokens, int64_t max_seq_len);

}  // namespace vlm::data
