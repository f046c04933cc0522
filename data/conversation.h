// Conversations as the corpora store them, and the templates that turn them into tokens with
// labels (RECIPES.md: plain, vicuna_v1, qwen2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer.h"
#include "recipes/recipe.h"

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

// A piece of a rendered conversation: text, one image, BOS or EOS; trainable pieces carry labels.
struct Segment {
  enum class Kind { kText, kImage, kBos, kEos };
  Kind kind = Kind::kText;
  std::string text;
  bool trainable = false;
  // Round (human/gpt pair) the segment belongs to; BOS and the system prompt belong to round 0.
  // Truncation drops whole rounds.
  int round = 0;
};

// Renders a conversation with a template (plain, vicuna_v1, qwen2) into segments, in order,
// byte for byte as the public code renders it (data/templates.cc names the code for each):
//   plain     = BOS, the images, "caption\n" (trainable). One human/gpt pair; its prompt is
//               dropped (LLaVA's preprocess_plain).
//   vicuna_v1 = BOS, "SYSTEM USER: ", the images, "\nq ASSISTANT:", "a" + EOS (trainable),
//               "USER: q2 ASSISTANT:", ... (LLaVA's conv_vicuna_v1 after preprocess_multimodal:
//               a turn's "<image>" placeholders are taken out, the rest stripped, and the images
//               put in front as "<image>\n"; text-only rounds are "USER: q ASSISTANT:").
//   qwen2     = "<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nq<|im_end|>\n
//               <|im_start|>assistant\n", "a" + EOS (trainable), "\n<|im_start|>user\nq2...", ...
//               (VoRA's template: no BOS; each image stays where its placeholder stands).
// Text segments are tokenized separately, each with a dummy prefix for SentencePiece-style
// tokenizers, so a segment boundary reads as one space (vicuna_v1's boundaries are exactly
// where its text has one). An optional first "system" turn overrides the system prompt (plain
// ignores it). A first turn from gpt (after the system turn) is skipped, as LLaVA does for the
// 665K mixture.
// Throws FormatError for a conversation the template cannot use: no rounds, human/gpt not
// alternating, a system turn elsewhere than first, a trailing question without an answer, an
// "<image>" placeholder in an answer, or a placeholder count that differs from images.size()
// (except with qwen2, for a record with one image and no placeholder: VoRA's own data format, see
// image_placeholder_implied).
std::vector<Segment> render(const Conversation& conversation, recipes::Template chat_template);

// How many "<image>" placeholders a turn's text holds (render's rule; vlm-shard checks records
// with it too).
int count_image_placeholders(std::string_view text);

// VoRA's documented format names one image ("frames") and no placeholder ("Describe this image in
// detail."); its processor puts "<image>" in front of the first question. The qwen2 template does
// the same; LLaVA's templates refuse such a record (LLaVA would train on its text and drop the
// image). vlm-shard, which does not know the template, keeps it.
bool image_placeholder_implied(int placeholders, size_t images);

// The prompt for generation: like render(), but the last answer (if the conversation ends with
// one) is left out and the segments end where the model starts answering ("... ASSISTANT:",
// "<|im_start|>assistant\n", or after the images for plain). Its tokens equal the training
// tokens of the same conversation up to that point.
std::vector<Segment> render_prompt(const Conversation& conversation,
                                   recipes::Template chat_template);

// A tokenized sample: input ids with image slots, and labels aligned with them (kIgnoreLabel
// where no loss; the loss shifts by one itself, so labels[t] is the target of position t - 1).
struct TokenizedSample {
  std::vector<int32_t> input_ids;  // kImageToken at each image-token position
  std::vector<int32_t> labels;
  // Images kept: always the first num_images of the conversation's images (truncation drops
  // rounds from the end, and images come in placeholder order).
  int64_t num_images = 0;
  std::vector<int64_t> image_starts;  // first position of each image's tokens
};

// Tokenizes segments: each image becomes image_tokens copies of kImageToken (never labelled).
// Truncates to max_seq_len (0: no limit) by dropping whole rounds from the end, never the first.
// If the first round alone is too long, it is cut at max_seq_len, which loses the end of its text
// (typically the answer) but never part of an image: when its images do not fit entirely, this
// throws FormatError, since max_seq_len is then too small for the model's image tokens.
TokenizedSample tokenize(const std::vector<Segment>& segments, const Tokenizer& tokenizer,
                         int64_t image_tokens, int64_t max_seq_len);

}  // namespace vlm::data
