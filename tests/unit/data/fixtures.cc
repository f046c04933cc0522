#include "tests/unit/data/fixtures.h"

#include "data/synth.h"
#include "tests/support/temp_dir.h"

namespace vlm::testing {
namespace {

std::vector<std::string> tokenizer_lines() {
  const std::vector<std::string> base = {
      "A chat between a curious user and an artificial intelligence assistant. The assistant "
      "gives helpful, detailed, and polite answers to the user's questions. USER:",
      "USER: What colour is the shape? ASSISTANT:",
      "\nWhat colour is the shape? ASSISTANT:",
      "USER: Where is the shape? ASSISTANT:",
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
      "\nWhich shape is shown?<|im_end|>\n<|im_start|>assistant\n",
      "a red circle in the top left\n",
      "a blue square in the bottom right\n",
      "the green star is in the top right\n",
      "red",
      "blue",
      "green",
      "circle",
      "square",
      "star",
      "top left",
      "bottom right",
      "Describe the image briefly.",
  };
  std::vector<std::string> lines;
  for (int repeat = 0; repeat < 50; ++repeat) lines.insert(lines.end(), base.begin(), base.end());
  return lines;
}

}  // namespace

const std::string& test_tokenizer_model() {
  static TempDir dir;
  static const std::string path = [] {
    data::train_sentencepiece(tokenizer_lines(), dir.file("test"), 200,
                              {"<|im_start|>", "<|im_end|>"});
    return dir.file("test.model");
  }();
  return path;
}

std::shared_ptr<const data::Tokenizer> test_tokenizer() {
  static const std::shared_ptr<const data::Tokenizer> tokenizer =
      data::load_sentencepiece(test_tokenizer_model());
  return tokenizer;
}

const std::string& synth_corpus_dir() {
  static TempDir dir;
  static const bool made = [] {
    data::synth::Options options;
    options.out_dir = dir.path();
    options.seed = 7;
    options.captions = 48;
    options.instructions = 96;
    options.vora = 40;
    options.eval_images = 6;
    options.text_only_ratio = 0.25;
    data::synth::generate(options);
    return true;
  }();
  (void)made;
  return dir.path();
}

data::TokenizedSample expand(const std::vector<Expected>& expected,
                             const data::Tokenizer& tokenizer, int64_t image_tokens) {
  data::TokenizedSample sample;
  for (const Expected& entry : expected) {
    std::vector<int32_t> ids;
    if (entry.segment == "<s>") {
      ids = {tokenizer.bos_id()};
    } else if (entry.segment == "</s>") {
      ids = {tokenizer.eos_id()};
    } else if (entry.segment == "<image>") {
      sample.image_starts.push_back(static_cast<int64_t>(sample.input_ids.size()));
      ++sample.num_images;
      ids.assign(static_cast<size_t>(image_tokens), data::kImageToken);
    } else {
      ids = tokenizer.encode(entry.segment);
    }
    for (const int32_t id : ids) {
      sample.input_ids.push_back(id);
      sample.labels.push_back(entry.labelled ? id : data::kIgnoreLabel);
    }
  }
  return sample;
}

}  // namespace vlm::testing
