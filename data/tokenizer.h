// Tokenizers: SentencePiece (tokenizer.model, LLaMA/Vicuna format, and the corpus tokenizer
// vlm-synth trains) and Hugging Face's tokenizer.json (byte-level BPE of Qwen2/2.5/3 and Llama 3,
// SentencePiece-style BPE of LLaMA-2/Vicuna). Special tokens are matched in the text before the
// model sees it, so "<image>" or "</s>" typed in a conversation become their ids, not pieces.
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
  // Encodes text, turning special-token strings ("<s>", "</s>", "<image>", "<|im_start|>", added
  // tokens such as "<auto_image>", ...) into their ids. No BOS is added.
  // SentencePiece models: each call starts with SentencePiece's dummy prefix ("▁"), so encoding
  // segments separately equals encoding them joined by spaces. Text right after a special token
  // continues without a prefix ("<|im_start|>user" -> the marker, then "user"), so
  // decode(encode(x)) == x. A call that starts with a special token gets no prefix at all.
  // (Models trained with SentencePiece's own add_dummy_prefix, such as LLaMA's, get the prefix on
  // every text run between special tokens, as LLaVA's tokenizer did.)
  // tokenizer.json files: what Hugging Face does (data/hf_tokenizer.h). Byte-level BPE has no
  // dummy prefix; SentencePiece-style BPE puts its "▁" before every text run between special
  // tokens.
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
  // Vocabulary size including added tokens (the file's and the caller's): the model's embedding
  // rows.
  virtual int64_t vocab_size() const = 0;
  // Id of a special token string; throws ConfigError when it has none.
  virtual int32_t special_id(const std::string& token) const = 0;
};

// Loads the tokenizer a path names: a Hugging Face tokenizer.json (a name ending in ".json"; see
// data/hf_tokenizer.h), a SentencePiece tokenizer.model (any other file name), or a model folder,
// which holds tokenizer.json (taken first) or tokenizer.model; neither: an IoError naming the
// folder and both names. A missing file is an IoError naming it, a file that does not load a
// FormatError.
//
// added_tokens: tokens the run adds (VDEP's "<auto_image>"). Each one the file does not define
// gets an id of its own after the file's largest id, in the order given; one it defines keeps the
// file's id. Nothing else is ever added. All of them are matched in text as special tokens.
// "<image>" always maps to kImageToken and never takes a vocabulary id (asking to add it is a
// ConfigError). vocab_size() is the file's size, its own added tokens included, plus the tokens
// appended here: the model's embedding rows.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path,
                                          const std::vector<std::string>& added_tokens = {});

// Loads a SentencePiece model (as load_tokenizer does for a tokenizer.model). "<image>" maps to
// kImageToken; "<s>", "</s>", and any user-defined symbols the model has ("<|im_start|>",
// "<|im_end|>") map to their SentencePiece ids.
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path,
                                              const std::vector<std::string>& added_tokens = {});

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
