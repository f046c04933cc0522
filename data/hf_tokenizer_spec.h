// What a Hugging Face tokenizer.json asks for, read and checked (data/hf_tokenizer.h uses it).
// Two shapes of BPE file are understood, each exactly:
// - byte-level BPE (GPT-2, Qwen2/2.5/3, Llama 3): normalizer none or NFC; pre_tokenizer ByteLevel,
//   alone or last in a Sequence after Split steps with a regex of data/pretokenize.h; decoder
//   ByteLevel (or none);
// - SentencePiece converted to BPE (LLaMA/LLaMA-2, Vicuna): normalizer Sequence [Prepend "▁",
//   Replace " " -> "▁"]; no pre_tokenizer; model.byte_fallback with all 256 "<0xXX>" tokens;
//   decoder Sequence [Replace "▁" -> " ", ByteFallback, Fuse, Strip " " (1, 0)].
// Anything else (another model type, add_prefix_space, a Metaspace pre-tokenizer, added tokens
// with lstrip/rstrip/single_word, ...) is a FormatError naming the file and the key, rather than
// a tokenization that silently differs from the model's.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/pretokenize.h"

namespace vlm::data {

// Far above any real vocabulary (Llama 3: 128,256 ids), low enough that a corrupt id cannot make
// the id tables take gigabytes.
constexpr int64_t kMaxTokenId = int64_t{1} << 24;

enum class BpeKind {
  kByteLevel,     // bytes mapped to GPT-2's byte symbols, split by regexes
  kSentencePiece  // characters, "▁" for spaces and before each text, bytes as "<0xXX>" fallback
};

struct HfAddedToken {
  std::string content;
  int32_t id;
};

struct HfTokenizerSpec {
  BpeKind kind = BpeKind::kByteLevel;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<int32_t, int32_t>> merges;  // (left id, right id), by rank
  std::vector<int32_t> merged_ids;                  // the id each merge makes
  bool ignore_merges = false;                       // a pre-token in the vocab skips the merges
  std::vector<HfAddedToken> added_tokens;           // as the file lists them
  bool nfc = false;                                 // byte-level: the NFC normalizer
  std::vector<SplitRegex> splits;                   // byte-level: applied in order
  std::string bos_token;  // the special token a TemplateProcessing prepends; empty: none
};

// A missing file is an IoError; malformed JSON or an unsupported structure a FormatError naming
// the file and the key (e.g. "model.merges[3]").
HfTokenizerSpec read_hf_tokenizer_spec(const std::string& path);
// The same over a tokenizer.json's text; source stands for the file in messages.
HfTokenizerSpec parse_hf_tokenizer_spec(const std::string& text, const std::string& source);

}  // namespace vlm::data
