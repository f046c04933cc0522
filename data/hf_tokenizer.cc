// Hugging Face tokenizer.json BPE: see data/hf_tokenizer.h.
#include "data/hf_tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <functional>
#include <optional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/error.h"
#include "data/hf_tokenizer_spec.h"
#include "data/pretokenize.h"
#include "data/special_tokens.h"
#include "data/unicode_text.h"

namespace vlm::data {
namespace {

constexpr char kMetaspace[] = "\xe2\x96\x81";  // "▁"

// ----- GPT-2's byte symbols --------------------------------------------------------------------

// Printable bytes stand for themselves; the others (controls, space, 127-160, 173) for 256 + their
// index among them, so that every byte is a visible character in vocab and merges.
std::array<char32_t, 256> byte_symbols() {
  std::array<char32_t, 256> symbols{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    symbols[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return symbols;
}

std::string byte_symbol_text(unsigned char byte) {
  static const std::array<char32_t, 256> symbols = byte_symbols();
  std::string text;
  append_utf8(symbols[byte], text);
  return text;
}

// The bytes a byte-level vocab string stands for. A string with a character outside the byte
// symbols stands for its own UTF-8 bytes, as Hugging Face's ByteLevel decoder does.
std::string symbols_to_bytes(const std::string& token) {
  static const std::unordered_map<char32_t, char> byte_of = [] {
    std::unordered_map<char32_t, char> map;
    const std::array<char32_t, 256> symbols = byte_symbols();
    for (size_t b = 0; b < 256; ++b) map.emplace(symbols[b], static_cast<char>(b));
    return map;
  }();
  std::string bytes;
  for (size_t pos = 0; pos < token.size();) {
    const auto decoded = read_utf8(token, pos);
    const auto found = decoded ? byte_of.find(decoded->first) : byte_of.end();
    if (found == byte_of.end()) return token;
    bytes += found->second;
    pos += decoded->second;
  }
  return bytes;
}

// ----- SentencePiece-style pieces --------------------------------------------------------------

std::string byte_token(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "<0x%02X>", byte);
  return text;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0;;) {
    const size_t found = text.find(from, pos);
    out.append(text.substr(pos, found - pos));
    if (found == std::string_view::npos) return out;
    out.append(to);
    pos = found + from.size();
  }
}

// The bytes a piece stands for: "<0xXX>" is that byte, "▁" a space.
std::string piece_to_bytes(const std::string& piece) {
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && hex(piece[3]) && hex(piece[4]) &&
      piece[5] == '>') {
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  }
  return replace_all(piece, kMetaspace, " ");
}

std::string hex_byte(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%02X", byte);
  return text;
}

// ----- The tokenizer ---------------------------------------------------------------------------

struct MergeRule {
  int32_t rank;
  int32_t merged_id;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class HfTokenizer : public Tokenizer {
 public:
  HfTokenizer(const std::string& path, HfTokenizerSpec spec,
              const std::vector<std::string>& added_tokens)
      : path_(path),
        kind_(spec.kind),
        vocab_(std::move(spec.vocab)),
        ignore_merges_(spec.ignore_merges),
        nfc_(spec.nfc),
        splits_(std::move(spec.splits)) {
    index_vocab();
    index_merges(spec);
    index_specials(spec, added_tokens);
  }

  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids;
    specials_.scan(
        text, [&](std::string_view run) { append_text(run, ids); },
        [&](const SpecialToken& token) { ids.push_back(token.id); });
    return ids;
  }

  // Each stretch of non-special ids came from one stretch of text between special tokens.
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text, run;
    const auto flush = [&] {
      // SentencePiece-style: the "▁" put before the stretch comes back as its first space.
      const bool prefixed = kind_ == BpeKind::kSentencePiece && !run.empty() && run[0] == ' ';
      text.append(run, prefixed ? 1 : 0, std::string::npos);
      run.clear();
    };
    for (const int32_t id : ids) {
      if (const std::string* special = specials_.text(id)) {
        flush();
        text += *special;
        continue;
      }
      check_id(id);
      run += id_bytes_[static_cast<size_t>(id)];
    }
    flush();
    return text;
  }

  std::string piece(int32_t id) const override {
    if (const std::string* special = specials_.text(id)) return *special;
    check_id(id);
    return id_token_[static_cast<size_t>(id)];
  }

  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t pad_id() const override { return pad_id_; }
  int64_t vocab_size() const override { return vocab_size_; }

  int32_t special_id(const std::string& token) const override {
    if (const auto id = specials_.id(token)) return *id;
    VLM_THROW(ConfigError, "the tokenizer ", path_, " has no special token ", token);
  }

 private:
  void index_vocab() {
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab_) max_id = std::max(max_id, id);
    id_token_.resize(static_cast<size_t>(max_id + 1));
    id_bytes_.resize(id_token_.size());
    in_vocab_.assign(id_token_.size(), false);
    for (const auto& [token, id] : vocab_) {
      const auto index = static_cast<size_t>(id);
      id_token_[index] = token;
      id_bytes_[index] =
          kind_ == BpeKind::kByteLevel ? symbols_to_bytes(token) : piece_to_bytes(token);
      in_vocab_[index] = true;
      const auto single = token.empty() ? std::nullopt : read_utf8(token, 0);
      if (single && single->second == token.size()) char_ids_.emplace(single->first, id);
    }
    for (int b = 0; b < 256; ++b) {
      const auto byte = static_cast<unsigned char>(b);
      const auto found =
          vocab_.find(kind_ == BpeKind::kByteLevel ? byte_symbol_text(byte) : byte_token(byte));
      byte_ids_[byte] = found == vocab_.end() ? -1 : found->second;
    }
    vocab_size_ = max_id + 1;
  }

  // A repeated merge takes its last rank, as Hugging Face's loader does.
  void index_merges(const HfTokenizerSpec& spec) {
    merges_.reserve(spec.merges.size());
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
      const auto [left, right] = spec.merges[rank];
      merges_[pair_key(left, right)] = MergeRule{static_cast<int32_t>(rank), spec.merged_ids[rank]};
    }
  }

  // "<image>" first (the slot, whatever the file says), then the file's added tokens, then the
  // caller's after the largest id.
  void index_specials(const HfTokenizerSpec& spec, const std::vector<std::string>& added_tokens) {
    specials_.add("<image>", kImageToken);
    for (const HfAddedToken& token : spec.added_tokens) {
      vocab_size_ = std::max<int64_t>(vocab_size_, int64_t{token.id} + 1);
      if (token.content == "<image>") {
        specials_.add_decoding(token.content, token.id);
      } else {
        specials_.add(token.content, token.id);
      }
    }
    const auto in_vocab = [&](const std::string& text) -> std::optional<int32_t> {
      const auto found = vocab_.find(text);
      if (found == vocab_.end()) return std::nullopt;
      return found->second;
    };
    vocab_size_ += add_requested_tokens(added_tokens, in_vocab, vocab_size_, specials_);
    // By name among the added tokens only: a vocabulary may hold "<s>" as ordinary text (Qwen's
    // does), which is no BOS.
    eos_id_ = find_first({"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>"},
                         "an end-of-sequence token among added_tokens");
    pad_id_ = specials_.id("<|endoftext|>").value_or(eos_id_);
    if (!spec.bos_token.empty()) {
      const auto in_vocab = vocab_.find(spec.bos_token);
      if (!specials_.id(spec.bos_token) && in_vocab != vocab_.end()) {
        bos_id_ = in_vocab->second;  // the template names it, so it is the BOS
      } else {
        bos_id_ = find_first({spec.bos_token}, "BOS token of the post_processor's template");
      }
    } else {
      bos_id_ = specials_.id("<s>").value_or(specials_.id("<|begin_of_text|>").value_or(-1));
    }
  }

  int32_t find_first(const std::vector<std::string>& candidates, const char* what) const {
    std::string names;
    for (const std::string& candidate : candidates) {
      if (const auto id = specials_.id(candidate)) return *id;
      names += (names.empty() ? "" : ", ") + candidate;
    }
    VLM_THROW(FormatError, path_, ": no ", what, " (looked for ", names, ")");
  }

  // A stretch of text between special tokens: normalizer, pre-tokenizer, model.
  void append_text(std::string_view run, std::vector<int32_t>& ids) const {
    if (kind_ == BpeKind::kSentencePiece) {
      const std::string word = kMetaspace + replace_all(run, " ", kMetaspace);
      append_word(word, ids);
      return;
    }
    const std::string normalized = nfc_ ? nfc(run) : std::string(run);
    std::vector<std::string_view> pieces = {normalized};
    for (const SplitRegex regex : splits_) {
      std::vector<std::string_view> finer;
      for (const std::string_view piece : pieces) {
        const auto parts = split(piece, regex);
        finer.insert(finer.end(), parts.begin(), parts.end());
      }
      pieces = std::move(finer);
    }
    for (const std::string_view piece : pieces) append_word(piece, ids);
  }

  // One pre-token: the whole of it when ignore_merges finds it in the vocabulary, else its
  // symbols merged by rank.
  void append_word(std::string_view word, std::vector<int32_t>& ids) const {
    if (ignore_merges_) {
      const auto whole = vocab_.find(vocab_text(word));
      if (whole != vocab_.end()) {
        ids.push_back(whole->second);
        return;
      }
    }
    std::vector<int32_t> symbols = initial_symbols(word);
    merge_by_rank(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }

  // How a pre-token is spelled in the vocabulary.
  std::string vocab_text(std::string_view word) const {
    if (kind_ != BpeKind::kByteLevel) return std::string(word);
    std::string symbols;
    for (const char byte : word) symbols += byte_symbol_text(static_cast<unsigned char>(byte));
    return symbols;
  }

  // Byte-level: one symbol per byte. SentencePiece-style: one per character, or its bytes'
  // "<0xXX>" tokens when the vocabulary lacks it (an ill-formed byte is its own "<0xXX>").
  std::vector<int32_t> initial_symbols(std::string_view word) const {
    std::vector<int32_t> symbols;
    symbols.reserve(word.size());
    for (size_t pos = 0; pos < word.size();) {
      if (kind_ == BpeKind::kSentencePiece) {
        const auto decoded = read_utf8(word, pos);
        if (decoded) {
          const auto found = char_ids_.find(decoded->first);
          if (found != char_ids_.end()) {
            symbols.push_back(found->second);
            pos += decoded->second;
            continue;
          }
        }
        const size_t length = decoded ? decoded->second : 1;
        for (size_t i = 0; i < length; ++i) symbols.push_back(byte_id(word[pos + i]));
        pos += length;
        continue;
      }
      symbols.push_back(byte_id(word[pos++]));
    }
    return symbols;
  }

  int32_t byte_id(char c) const {
    const auto byte = static_cast<unsigned char>(c);
    const int32_t id = byte_ids_[byte];
    VLM_CHECK(id >= 0, FormatError, path_, ": model.vocab has no symbol for byte ", hex_byte(byte),
              " (", byte_symbol_text(byte), "), which the text has: not a byte-level vocabulary");
    return id;
  }

  // Merges the adjacent pair of lowest rank (the leftmost of equal ones) until none has a merge,
  // as Hugging Face's BPE does. A heap over a linked list keeps long words (runs of spaces or
  // punctuation, a SentencePiece-style text) at O(n log n).
  void merge_by_rank(std::vector<int32_t>& symbols) const {
    constexpr size_t kNone = static_cast<size_t>(-1);
    constexpr int32_t kRemoved = -1;
    struct Candidate {
      int32_t rank;
      size_t pos;
      int32_t left, right;
      bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : pos > other.pos;
      }
    };
    const size_t n = symbols.size();
    if (n < 2) return;
    std::vector<size_t> next(n), prev(n);
    for (size_t i = 0; i < n; ++i) {
      next[i] = i + 1 < n ? i + 1 : kNone;
      prev[i] = i > 0 ? i - 1 : kNone;
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    const auto consider = [&](size_t left) {
      if (left == kNone || next[left] == kNone) return;
      const int32_t a = symbols[left], b = symbols[next[left]];
      const auto rule = merges_.find(pair_key(a, b));
      if (rule != merges_.end()) heap.push({rule->second.rank, left, a, b});
    };
    for (size_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      const Candidate top = heap.top();
      heap.pop();
      const size_t right = next[top.pos];
      // Stale: an earlier merge changed one side of this pair.
      if (symbols[top.pos] != top.left || right == kNone || symbols[right] != top.right) continue;
      symbols[top.pos] = merges_.at(pair_key(top.left, top.right)).merged_id;
      symbols[right] = kRemoved;
      next[top.pos] = next[right];
      if (next[right] != kNone) prev[next[right]] = top.pos;
      consider(prev[top.pos]);
      consider(top.pos);
    }
    symbols.erase(std::remove(symbols.begin(), symbols.end(), kRemoved), symbols.end());
  }

  void check_id(int32_t id) const {
    VLM_CHECK(
        id >= 0 && static_cast<size_t>(id) < in_vocab_.size() && in_vocab_[static_cast<size_t>(id)],
        InternalError, "token id ", id, " is outside the vocabulary (", vocab_size_, ") of ",
        path_);
  }

  std::string path_;
  BpeKind kind_;
  std::unordered_map<std::string, int32_t> vocab_;
  bool ignore_merges_ = false;
  bool nfc_ = false;
  std::vector<SplitRegex> splits_;
  std::vector<std::string> id_token_;  // id -> vocab string ("" where the ids have a gap)
  std::vector<std::string> id_bytes_;  // id -> the bytes it stands for
  std::vector<bool> in_vocab_;
  std::unordered_map<char32_t, int32_t> char_ids_;  // one-character vocab strings
  std::array<int32_t, 256> byte_ids_{};             // -1: the vocab lacks the byte's symbol
  std::unordered_map<uint64_t, MergeRule> merges_;
  SpecialTokens specials_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  int64_t vocab_size_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path,
                                             const std::vector<std::string>& added_tokens) {
  return std::make_unique<HfTokenizer>(tokenizer_json_path,
                                       read_hf_tokenizer_spec(tokenizer_json_path), added_tokens);
}

}  // namespace vlm::data
