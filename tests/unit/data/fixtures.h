// Shared, built-once test material for the data tests: a SentencePiece model trained at test time
// and a small synthetic corpus made by the real generator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/conversation.h"
#include "data/tokenizer.h"

namespace vlm::testing {

// Trained on template strings and shape-corpus sentences, with <|im_start|> and <|im_end|>.
std::shared_ptr<const data::Tokenizer> test_tokenizer();
// The SentencePiece model file test_tokenizer() loads (it lasts as long as the test program).
const std::string& test_tokenizer_model();

// A vlm-synth corpus (seed 7: 48 captions, 96 instructions, 40 VoRA lines, 6 eval images).
const std::string& synth_corpus_dir();

// The ids and labels a literal expectation spells out: each entry is a text segment, "<s>",
// "</s>" or "<image>" (which stands for image_tokens slots), with whether it carries labels.
struct Expected {
  std::string segment;
  bool labelled;
};
data::TokenizedSample expand(const std::vector<Expected>& expected,
                             const data::Tokenizer& tokenizer, int64_t image_tokens);

}  // namespace vlm::testing
