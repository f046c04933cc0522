// Tokenizers: SentencePiece (tokenizer.model, LLaMA/Vicuna format) and the byte-level BPE of a
// HF tokenizer.json (Qwen2/Qwen2.5, VoRA's LLM). Special tokens are matched in the text before
// the model sees it, so "<image>" or "</s>" typed in a conversation become their ids, not pieces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vlm::data {

// Text-side marker for an image slot; the model's kImageSlot has the same value.
constexpr int32_t kImageToken = -200;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes text, turning special-token strings ("<s>", "</s>", "<image>", "<auto_image>",
  // "<|im_start|>", ...) into their ids. No BOS is added. Each call starts with SentencePiece's
  // dummy prefix ("▁"), so encoding segments separately equals encoding them joined by spaces.
  // Text right after a special token continues without a prefix ("<|im_start|>user" -> the
  // marker, then "user"), so decode(encode(x)) == x. A call that starts with a special token
  // gets no prefix at all. (Models trained with SentencePiece's own add_dummy_prefix, such as
  // LLaMA's, get the prefix on every text run between special tokens, as LLaVA's tokenizer did.)
  // Byte-level BPE (data/hf_tokenizer.h) has no dummy prefix: it encodes the text as it is.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // Inverse of encode(): kImageToken -> "<image>", special ids -> their strings. Ids outside the
  // vocabulary throw InternalError.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The piece for an id (for tests and debugging).
  virtual std::string piece(int32_t id) const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the model has none
  virtual int32_t eos_id() const = 0;
  // The model's pad piece if it has one, else eos_id() (padding never carries a label).
  virtual int32_t pad_id() const = 0;
  // Vocabulary size including added tokens (e.g. <auto_image>): the model's embedding rows.
  virtual int64_t vocab_size() const = 0;
  // Id of a special token string; throws ConfigError when it has none.
  virtual int32_t special_id(const std::string& token) const = 0;
};

// Loads a SentencePiece model. "<image>" maps to kImageToken; "<auto_image>" is an added token
// (id = SentencePiece's size, i.e. vocab_size() - 1); "<s>", "</s>", and any user-defined symbols
// the model has ("<|im_start|>", "<|im_end|>") map to their SentencePiece ids. A missing file is
// an IoError that says how to make one; a file that does not load is a FormatError.
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path);

// Loads the tokenizer a path names: a Hugging Face tokenizer.json (a name ending in ".json") with
// load_hf_tokenizer (data/hf_tokenizer.h; byte-level BPE, no dummy prefix), anything else with
// load_sentencepiece.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// Trains a SentencePiece model on lines of text (used by vlm-synth and by tests), writing
// <model_prefix>.model. user_symbols become single pieces (e.g. "<|im_start|>"). The settings make
// the whole words of a small corpus single pieces: BPE, identity normalization, whitespace kept
// as is (so "\n" survives), every character of the corpus in the vocabulary, and no dummy prefix
// in the model (encode() adds it itself, see above). vocab_size is an upper bound: training stops
// early when no merges are left. byte_fallback adds the 256 byte pieces (so unseen characters
// round-trip; needs vocab_size above ~300); without it unseen characters decode as " ⁇ ".
// Deterministic: the same lines give a byte-identical file.
void train_sentencepiece(const std::vector<std::string>& lines, const std::string& model_prefix,
                         int vocab_size, const std::vector<std::string>& user_symbols,
                         bool byte_fallback = false);

}  // namespace vlm::data
