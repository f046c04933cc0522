// Byte-level BPE from a Hugging Face tokenizer.json: see data/hf_tokenizer.h.
#include "data/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <optional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/error.h"
#include "common/files.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;

// ----- Characters: UTF-8 decoding and the regex classes \p{L}, \p{N}, \s ---------------------

enum class CharClass { kLetter, kNumber, kSpace, kOther };

struct CodeRange {
  char32_t first;
  char32_t last;
};

// Sorted, non-overlapping. See the header for what this approximates.
constexpr CodeRange kLetterRanges[] = {
    {0xAA, 0xAA},     {0xB5, 0xB5},     {0xBA, 0xBA},       {0xC0, 0xD6},     {0xD8, 0xF6},
    {0xF8, 0x2C1},    {0x2C6, 0x2D1},   {0x2E0, 0x2E4},     {0x370, 0x374},   {0x376, 0x377},
    {0x37A, 0x37D},   {0x37F, 0x37F},   {0x386, 0x386},     {0x388, 0x3F5},   {0x3F7, 0x481},
    {0x48A, 0x52F},   {0x5D0, 0x5EA},   {0x5EF, 0x5F2},     {0x620, 0x64A},   {0x66E, 0x66F},
    {0x671, 0x6D3},   {0x6D5, 0x6D5},   {0x1100, 0x11FF},   {0x1E00, 0x1FFF}, {0x3005, 0x3006},
    {0x3041, 0x3096}, {0x309D, 0x309F}, {0x30A1, 0x30FA},   {0x30FC, 0x30FF}, {0x3131, 0x318E},
    {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},   {0xF900, 0xFAFF}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE}, {0x20000, 0x3134F},
};
constexpr CodeRange kNumberRanges[] = {
    {0xB2, 0xB3},     {0xB9, 0xB9},     {0xBC, 0xBE},     {0x660, 0x669},
    {0x6F0, 0x6F9},   {0x966, 0x96F},   {0x2070, 0x2070}, {0x2074, 0x2079},
    {0x2080, 0x2089}, {0x2150, 0x2182}, {0x2185, 0x2189}, {0x2460, 0x249B},
    {0x24EA, 0x24FF}, {0x2776, 0x2793}, {0x3007, 0x3007}, {0xFF10, 0xFF19},
};
// Unicode's White_Space property, complete.
constexpr CodeRange kSpaceRanges[] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

template <size_t N>
bool in_ranges(char32_t code, const CodeRange (&ranges)[N]) {
  const auto after = std::upper_bound(std::begin(ranges), std::end(ranges), code,
                                      [](char32_t c, const CodeRange& r) { return c < r.first; });
  return after != std::begin(ranges) && code <= std::prev(after)->last;
}

CharClass classify(char32_t code) {
  if (code < 0x80) {
    if ((code | 0x20) >= 'a' && (code | 0x20) <= 'z') return CharClass::kLetter;
    if (code >= '0' && code <= '9') return CharClass::kNumber;
  }
  if (in_ranges(code, kSpaceRanges)) return CharClass::kSpace;
  if (code >= 0x80 && in_ranges(code, kLetterRanges)) return CharClass::kLetter;
  if (code >= 0x80 && in_ranges(code, kNumberRanges)) return CharClass::kNumber;
  return CharClass::kOther;
}

struct Char {
  size_t begin;  // byte offset
  char32_t code;
  CharClass cls;
};

// The well-formed UTF-8 sequence at text[pos], if there is one: (code point, length).
std::optional<std::pair<char32_t, size_t>> read_utf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return std::make_pair(char32_t{lead}, size_t{1});
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;  // excludes overlongs and surrogates
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return std::nullopt;
  }
  if (pos + length > text.size() || byte(1) < second_min || byte(1) > second_max) {
    return std::nullopt;
  }
  char32_t code = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return std::nullopt;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  return std::make_pair(code, length);
}

// Invalid bytes become characters of their own, classed as punctuation, so they round-trip.
std::vector<Char> decode_chars(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const auto decoded = read_utf8(text, pos);
    if (!decoded) {
      chars.push_back({pos, 0xFFFD, CharClass::kOther});
      ++pos;
      continue;
    }
    chars.push_back({pos, decoded->first, classify(decoded->first)});
    pos += decoded->second;
  }
  return chars;
}

// ----- Pre-tokenization: the split regexes, matched by hand (std::regex has no \p{L}) -------

// The regexes this reader knows, by the pre-tokenizer that uses them:
enum class SplitRegex {
  // ByteLevel with use_regex: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
  // \s+(?!\S)|\s+
  kGpt2,
  // Qwen2's Split: see qwen2_pretokens in the header.
  kQwen2,
  // cl100k / Llama 3: Qwen2's with \p{N}{1,3} for \p{N}.
  kCl100k,
};

constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|)"
    R"(\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kCl100kRegex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+)"
    R"([\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Matches one regex at a character position and returns where the match ends (regexes of this
// shape match at every position, so the pieces tile the text). Alternatives are tried in order
// and quantifiers are greedy with backtracking, as in Oniguruma, which HF's tokenizers use.
class PatternMatcher {
 public:
  explicit PatternMatcher(const std::vector<Char>& chars) : chars_(chars), n_(chars.size()) {}

  size_t match(size_t i, SplitRegex regex) const {
    return regex == SplitRegex::kGpt2 ? match_gpt2(i) : match_qwen2(i, regex);
  }

 private:
  bool is(size_t i, CharClass cls) const { return i < n_ && chars_[i].cls == cls; }
  bool is_newline(size_t i) const {
    return i < n_ && (chars_[i].code == '\r' || chars_[i].code == '\n');
  }
  bool is_space_char(size_t i) const { return i < n_ && chars_[i].code == ' '; }
  // End of the run of `cls` characters starting at i.
  size_t run_end(size_t i, CharClass cls) const {
    while (is(i, cls)) ++i;
    return i;
  }
  size_t newline_run_end(size_t i) const {
    while (is_newline(i)) ++i;
    return i;
  }

  // 's|'t|'re|'ve|'m|'ll|'d (ASCII case folding when case_insensitive): the match's length or 0.
  size_t contraction(size_t i, bool case_insensitive) const {
    if (i >= n_ || chars_[i].code != '\'') return 0;
    const auto letter = [&](size_t k) -> char32_t {
      if (k >= n_) return 0;
      const char32_t c = chars_[k].code;
      return case_insensitive && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    };
    const char32_t first = letter(i + 1), second = letter(i + 2);
    if (first == 's' || first == 't' || first == 'm' || first == 'd') return 2;
    if ((first == 'r' || first == 'v') && second == 'e') return 3;
    if (first == 'l' && second == 'l') return 3;
    return 0;
  }

  size_t match_qwen2(size_t i, SplitRegex regex) const {
    if (const size_t length = contraction(i, true)) return i + length;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (is(i, CharClass::kLetter)) return run_end(i, CharClass::kLetter);
    if (!is(i, CharClass::kNumber) && !is_newline(i) && is(i + 1, CharClass::kLetter)) {
      return run_end(i + 1, CharClass::kLetter);
    }
    // \p{N} or \p{N}{1,3}
    if (is(i, CharClass::kNumber)) {
      const size_t most = regex == SplitRegex::kQwen2 ? 1 : 3;
      return std::min(run_end(i, CharClass::kNumber), i + most);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const size_t start = is_space_char(i) && is(i + 1, CharClass::kOther) ? i + 1 : i;
    if (is(start, CharClass::kOther)) return newline_run_end(run_end(start, CharClass::kOther));
    return match_spaces(i, true);
  }

  size_t match_gpt2(size_t i) const {
    if (const size_t length = contraction(i, false)) return i + length;
    // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
    for (const CharClass cls : {CharClass::kLetter, CharClass::kNumber, CharClass::kOther}) {
      if (is_space_char(i) && is(i + 1, cls)) return run_end(i + 1, cls);
      if (is(i, cls)) return run_end(i, cls);
    }
    return match_spaces(i, false);
  }

  // At a whitespace character: `\s*[\r\n]+` (when with_newlines), then `\s+(?!\S)`, then `\s+`.
  size_t match_spaces(size_t i, bool with_newlines) const {
    const size_t end = run_end(i, CharClass::kSpace);
    if (with_newlines) {
      // \s* backs off until [\r\n]+ can match: up to the run's last newline.
      for (size_t k = end; k > i; --k) {
        if (is_newline(k - 1)) return k;
      }
    }
    // Before a non-space, \s+(?!\S) leaves the run's last space to start the next piece.
    if (end < n_ && end - i > 1) return end - 1;
    return end;
  }

  const std::vector<Char>& chars_;
  const size_t n_;
};

std::vector<std::string_view> split(std::string_view text, SplitRegex regex) {
  const std::vector<Char> chars = decode_chars(text);
  const PatternMatcher matcher(chars);
  const auto offset = [&](size_t i) { return i < chars.size() ? chars[i].begin : text.size(); };
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < chars.size();) {
    const size_t end = matcher.match(i, regex);
    pieces.push_back(text.substr(offset(i), offset(end) - offset(i)));
    i = end;
  }
  return pieces;
}

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

// The bytes a vocab string stands for. A string with a character outside the byte symbols stands
// for its own UTF-8 bytes, as HF's ByteLevel decoder does.
std::string symbols_to_bytes(const std::string& token) {
  static const std::unordered_map<char32_t, char> byte_of = [] {
    std::unordered_map<char32_t, char> map;
    const std::array<char32_t, 256> symbols = byte_symbols();
    for (size_t b = 0; b < 256; ++b) map.emplace(symbols[b], static_cast<char>(b));
    return map;
  }();
  std::string bytes;
  for (const Char& c : decode_chars(token)) {
    const auto found = byte_of.find(c.code);  // an invalid byte decodes as U+FFFD: not found
    if (found == byte_of.end()) return token;
    bytes += found->second;
  }
  return bytes;
}

std::string hex_byte(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%02X", byte);
  return text;
}

// ----- Reading tokenizer.json ------------------------------------------------------------------

// Far above any real vocabulary (Qwen2: 151,665 ids), low enough that a corrupt id cannot make
// the id tables take gigabytes.
constexpr int64_t kMaxTokenId = int64_t{1} << 24;

struct AddedToken {
  std::string content;
  int32_t id;
};

// What the tokenizer needs from the file, checked.
struct HfTokenizerSpec {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<int32_t, int32_t>> merges;  // (left id, right id), by rank
  std::vector<int32_t> merged_ids;                  // the id each merge makes
  bool ignore_merges = false;
  std::vector<AddedToken> added_tokens;
  std::vector<SplitRegex> splits;  // applied in order
  std::string bos_token;           // empty when the template adds none
};

// Reads one JSON document and names the file and the key in every error.
class SpecReader {
 public:
  explicit SpecReader(std::string path) : path_(std::move(path)) {}

  HfTokenizerSpec read() const {
    const Json root = parse();
    check_object(root, "the top level");
    HfTokenizerSpec spec;
    read_model(member(root, "model", "model"), spec);
    read_added_tokens(root, spec);
    check_normalizer(root);
    spec.splits = read_pre_tokenizer(root);
    spec.bos_token = read_bos_token(root);
    return spec;
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    VLM_THROW(FormatError, path_, ": ", key, " ", problem);
  }

  Json parse() const {
    VLM_CHECK(files::exists(path_), IoError, "tokenizer ", path_,
              " not found (give a Hugging Face tokenizer.json, as the model's repository has it)");
    const std::string text = files::read_all(path_);
    try {
      return Json::parse(text);
    } catch (const Json::exception& e) {
      VLM_THROW(FormatError, path_, " is not valid JSON: ", e.what());
    }
  }

  void check_object(const Json& value, const std::string& key) const {
    if (!value.is_object()) fail(key, "must be a JSON object");
  }

  const Json& member(const Json& object, const char* name, const std::string& key) const {
    const auto found = object.find(name);
    if (found == object.end()) fail(key, "is missing");
    return *found;
  }

  // A member that may be absent or null.
  const Json* optional_member(const Json& object, const char* name) const {
    const auto found = object.find(name);
    return found == object.end() || found->is_null() ? nullptr : &*found;
  }

  std::string string_member(const Json& object, const char* name, const std::string& key) const {
    const Json& value = member(object, name, key);
    if (!value.is_string()) fail(key, "must be a string");
    return value.get<std::string>();
  }

  bool bool_member(const Json& object, const char* name, const std::string& key,
                   bool default_value) const {
    const Json* value = optional_member(object, name);
    if (value == nullptr) return default_value;
    if (!value->is_boolean()) fail(key, "must be true or false");
    return value->get<bool>();
  }

  int32_t token_id(const Json& value, const std::string& key) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() >= kMaxTokenId) {
      fail(key, "must be a token id (an integer in [0, " + std::to_string(kMaxTokenId) + "))");
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }

  void read_model(const Json& model, HfTokenizerSpec& spec) const {
    check_object(model, "model");
    const std::string type = string_member(model, "type", "model.type");
    if (type != "BPE") fail("model.type", "is \"" + type + "\": only byte-level BPE is supported");
    for (const char* name : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const Json* affix = optional_member(model, name);
      if (affix && !(affix->is_string() && affix->get<std::string>().empty())) {
        fail(std::string("model.") + name,
             "is set: byte-level BPE has none, and none is supported");
      }
    }
    const Json* dropout = optional_member(model, "dropout");
    if (dropout && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
      fail("model.dropout", "is set: BPE dropout (random merges) is not supported");
    }
    spec.ignore_merges = bool_member(model, "ignore_merges", "model.ignore_merges", false);
    read_vocab(member(model, "vocab", "model.vocab"), spec);
    read_merges(member(model, "merges", "model.merges"), spec);
  }

  void read_vocab(const Json& vocab, HfTokenizerSpec& spec) const {
    check_object(vocab, "model.vocab");
    spec.vocab.reserve(vocab.size());
    std::unordered_map<int32_t, std::string> token_of;
    for (const auto& [token, value] : vocab.items()) {
      const std::string key = "model.vocab[" + Json(token).dump() + "]";
      const int32_t id = token_id(value, key);
      const auto [other, fresh] = token_of.emplace(id, token);
      if (!fresh) fail(key, "has id " + std::to_string(id) + ", as " + Json(other->second).dump());
      spec.vocab.emplace(token, id);
    }
  }

  // Each merge: "a b" (one space) or ["a", "b"]; both parts and their join must be in the vocab.
  void read_merges(const Json& merges, HfTokenizerSpec& spec) const {
    if (!merges.is_array()) fail("model.merges", "must be a list");
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string key = "model.merges[" + std::to_string(rank) + "]";
      const auto [left, right] = merge_parts(merges[rank], key);
      const int32_t left_id = vocab_id(spec, left, key);
      const int32_t right_id = vocab_id(spec, right, key);
      spec.merges.emplace_back(left_id, right_id);
      spec.merged_ids.push_back(vocab_id(spec, left + right, key));
    }
  }

  std::pair<std::string, std::string> merge_parts(const Json& merge, const std::string& key) const {
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space != std::string::npos && space > 0 && space + 1 < text.size() &&
          text.find(' ', space + 1) == std::string::npos) {
        return {text.substr(0, space), text.substr(space + 1)};
      }
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string() && !merge[0].get<std::string>().empty() &&
               !merge[1].get<std::string>().empty()) {
      return {merge[0].get<std::string>(), merge[1].get<std::string>()};
    }
    fail(key, "must be \"a b\" or [\"a\", \"b\"], got " + merge.dump());
  }

  int32_t vocab_id(const HfTokenizerSpec& spec, const std::string& token,
                   const std::string& key) const {
    const auto found = spec.vocab.find(token);
    if (found == spec.vocab.end()) fail(key, "uses " + Json(token).dump() + ", not in model.vocab");
    return found->second;
  }

  void read_added_tokens(const Json& root, HfTokenizerSpec& spec) const {
    const Json* added = optional_member(root, "added_tokens");
    if (added == nullptr) return;
    if (!added->is_array()) fail("added_tokens", "must be a list");
    for (size_t i = 0; i < added->size(); ++i) {
      const std::string key = "added_tokens[" + std::to_string(i) + "]";
      const Json& token = (*added)[i];
      check_object(token, key);
      const int32_t id = token_id(member(token, "id", key + ".id"), key + ".id");
      const std::string content = string_member(token, "content", key + ".content");
      if (content.empty()) fail(key + ".content", "is empty");
      spec.added_tokens.push_back({content, id});
    }
  }

  // The text is not normalized (see the header): only files that ask for nothing else load.
  void check_normalizer(const Json& root) const {
    const Json* normalizer = optional_member(root, "normalizer");
    if (normalizer == nullptr) return;
    check_object(*normalizer, "normalizer");
    const std::string type = string_member(*normalizer, "type", "normalizer.type");
    if (type != "NFC")
      fail("normalizer.type", "is \"" + type + "\": only NFC (or none) is supported");
  }

  // ByteLevel, alone or last in a Sequence after Split steps.
  std::vector<SplitRegex> read_pre_tokenizer(const Json& root) const {
    const Json* pre = optional_member(root, "pre_tokenizer");
    if (pre == nullptr) fail("pre_tokenizer", "is missing: byte-level BPE needs ByteLevel");
    check_object(*pre, "pre_tokenizer");
    std::vector<std::pair<const Json*, std::string>> steps;
    if (string_member(*pre, "type", "pre_tokenizer.type") == "Sequence") {
      const Json& list = member(*pre, "pretokenizers", "pre_tokenizer.pretokenizers");
      if (!list.is_array()) fail("pre_tokenizer.pretokenizers", "must be a list");
      for (size_t i = 0; i < list.size(); ++i) {
        steps.emplace_back(&list[i], "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]");
      }
    } else {
      steps.emplace_back(pre, "pre_tokenizer");
    }
    std::vector<SplitRegex> splits;
    for (size_t i = 0; i < steps.size(); ++i) {
      const auto& [step, key] = steps[i];
      check_object(*step, key);
      const std::string type = string_member(*step, "type", key + ".type");
      const bool last = i + 1 == steps.size();
      if (type == "Split" && !last) {
        splits.push_back(read_split(*step, key));
      } else if (type == "ByteLevel" && last) {
        if (bool_member(*step, "add_prefix_space", key + ".add_prefix_space", true)) {
          fail(key + ".add_prefix_space", "is true: not supported (text is encoded as it is)");
        }
        if (bool_member(*step, "use_regex", key + ".use_regex", true)) {
          splits.push_back(SplitRegex::kGpt2);
        }
      } else {
        fail(key + ".type", "is \"" + type + "\": expected Split steps, then ByteLevel last");
      }
    }
    return splits;
  }

  SplitRegex read_split(const Json& step, const std::string& key) const {
    const Json& pattern = member(step, "pattern", key + ".pattern");
    check_object(pattern, key + ".pattern");
    const std::string regex = string_member(pattern, "Regex", key + ".pattern.Regex");
    const std::string behavior = string_member(step, "behavior", key + ".behavior");
    if (behavior != "Isolated") fail(key + ".behavior", "is \"" + behavior + "\", not Isolated");
    if (bool_member(step, "invert", key + ".invert", false)) fail(key + ".invert", "is true");
    if (regex == kQwen2Regex) return SplitRegex::kQwen2;
    if (regex == kCl100kRegex) return SplitRegex::kCl100k;
    fail(key + ".pattern.Regex", "is not a regex this reader implements (Qwen2's or cl100k's)");
  }

  // The special token a TemplateProcessing post-processor puts before a single sequence, if any.
  std::string read_bos_token(const Json& root) const {
    const Json* post = optional_member(root, "post_processor");
    if (post == nullptr) return {};
    check_object(*post, "post_processor");
    std::vector<std::pair<const Json*, std::string>> processors = {{post, "post_processor"}};
    const Json* list = optional_member(*post, "processors");
    if (list && list->is_array()) {
      processors.clear();
      for (size_t i = 0; i < list->size(); ++i) {
        processors.emplace_back(&(*list)[i],
                                "post_processor.processors[" + std::to_string(i) + "]");
      }
    }
    for (const auto& [processor, key] : processors) {
      check_object(*processor, key);
      if (string_member(*processor, "type", key + ".type") != "TemplateProcessing") continue;
      const Json& single = member(*processor, "single", key + ".single");
      if (!single.is_array()) fail(key + ".single", "must be a list");
      if (single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) continue;
      const Json& first = single[0]["SpecialToken"];
      if (!first.is_object()) fail(key + ".single[0].SpecialToken", "must be an object");
      const std::string id_key = key + ".single[0].SpecialToken.id";
      const std::string token = string_member(first, "id", id_key);
      if (token.empty()) fail(id_key, "is empty");
      return token;
    }
    return {};
  }

  std::string path_;
};

// ----- The tokenizer ---------------------------------------------------------------------------

struct SpecialToken {
  std::string text;
  int32_t id;
};

struct MergeRule {
  int32_t rank;
  int32_t merged_id;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class HfTokenizer : public Tokenizer {
 public:
  HfTokenizer(const std::string& path, HfTokenizerSpec spec)
      : path_(path),
        vocab_(std::move(spec.vocab)),
        splits_(std::move(spec.splits)),
        ignore_merges_(spec.ignore_merges) {
    index_vocab();
    index_merges(spec);
    index_specials(spec);
    std::stable_sort(specials_.begin(), specials_.end(),
                     [](const auto& a, const auto& b) { return a.text.size() > b.text.size(); });
    for (const SpecialToken& special : specials_) {
      special_first_byte_[static_cast<unsigned char>(special.text[0])] = true;
    }
  }

  // Added tokens first (leftmost, then longest), then BPE on the text between them.
  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids;
    const std::string_view view(text);
    size_t run_start = 0;
    for (size_t pos = 0; pos < text.size();) {
      const SpecialToken* special = match_special(view, pos);
      if (special == nullptr) {
        ++pos;
        continue;
      }
      append_text(view.substr(run_start, pos - run_start), ids);
      ids.push_back(special->id);
      pos = run_start = pos + special->text.size();
    }
    append_text(view.substr(run_start), ids);
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    for (const int32_t id : ids) {
      const auto special = special_text_.find(id);
      if (special != special_text_.end()) {
        text += special->second;
        continue;
      }
      check_id(id);
      text += id_bytes_[static_cast<size_t>(id)];
    }
    return text;
  }

  std::string piece(int32_t id) const override {
    const auto special = special_text_.find(id);
    if (special != special_text_.end()) return special->second;
    check_id(id);
    return id_token_[static_cast<size_t>(id)];
  }

  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t pad_id() const override { return pad_id_; }
  int64_t vocab_size() const override { return vocab_size_; }

  int32_t special_id(const std::string& token) const override {
    for (const auto& special : specials_) {
      if (special.text == token) return special.id;
    }
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
      id_token_[static_cast<size_t>(id)] = token;
      id_bytes_[static_cast<size_t>(id)] = symbols_to_bytes(token);
      in_vocab_[static_cast<size_t>(id)] = true;
    }
    for (int b = 0; b < 256; ++b) {
      const auto found = vocab_.find(byte_symbol_text(static_cast<unsigned char>(b)));
      byte_ids_[static_cast<size_t>(b)] = found == vocab_.end() ? -1 : found->second;
    }
    vocab_size_ = max_id + 1;
  }

  // A repeated merge takes its last rank, as HF's loader does.
  void index_merges(const HfTokenizerSpec& spec) {
    merges_.reserve(spec.merges.size());
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
      const auto [left, right] = spec.merges[rank];
      merges_[pair_key(left, right)] = MergeRule{static_cast<int32_t>(rank), spec.merged_ids[rank]};
    }
  }

  // Mirrors load_sentencepiece: "<image>" is kImageToken, "<auto_image>" gets the id after the
  // vocabulary unless the file has it; every added token is matched in the text, and BOS/EOS too.
  void index_specials(const HfTokenizerSpec& spec) {
    add_special("<image>", kImageToken);
    std::optional<int32_t> auto_image;
    for (const AddedToken& token : spec.added_tokens) {
      vocab_size_ = std::max<int64_t>(vocab_size_, int64_t{token.id} + 1);
      if (token.content == "<auto_image>") auto_image = token.id;
      if (token.content == "<image>") {
        special_text_.emplace(token.id, token.content);  // decodes; the text still means the slot
        continue;
      }
      add_special(token.content, token.id);
    }
    if (!auto_image) {
      auto_image = static_cast<int32_t>(vocab_size_);
      add_special("<auto_image>", *auto_image);
      vocab_size_ += 1;
    }
    eos_id_ = find_first({"<|im_end|>", "<|endoftext|>", "</s>"}, "an end-of-sequence token");
    pad_id_ = token_id_of("<|endoftext|>").value_or(eos_id_);
    if (!spec.bos_token.empty()) {
      bos_id_ = find_first({spec.bos_token}, "BOS token of the post_processor's template");
    } else {
      bos_id_ = token_id_of("<s>").value_or(token_id_of("<|begin_of_text|>").value_or(-1));
    }
    for (const int32_t id : {eos_id_, pad_id_, bos_id_}) {
      if (id >= 0 && special_text_.count(id) == 0)
        add_special(id_token_[static_cast<size_t>(id)], id);
    }
  }

  void add_special(const std::string& text, int32_t id) {
    specials_.push_back({text, id});
    special_text_.emplace(id, text);
  }

  // An added token's id, else a vocab token's.
  std::optional<int32_t> token_id_of(const std::string& text) const {
    for (const auto& special : specials_) {
      if (special.text == text) return special.id;
    }
    const auto found = vocab_.find(text);
    if (found != vocab_.end()) return found->second;
    return std::nullopt;
  }

  int32_t find_first(const std::vector<std::string>& candidates, const char* what) const {
    std::string names;
    for (const std::string& candidate : candidates) {
      if (const auto id = token_id_of(candidate)) return *id;
      names += (names.empty() ? "" : ", ") + candidate;
    }
    VLM_THROW(FormatError, path_, ": no ", what, " among added_tokens and model.vocab (looked for ",
              names, ")");
  }

  const SpecialToken* match_special(std::string_view text, size_t pos) const {
    if (!special_first_byte_[static_cast<unsigned char>(text[pos])]) return nullptr;
    for (const auto& special : specials_) {
      if (text.compare(pos, special.text.size(), special.text) == 0) return &special;
    }
    return nullptr;
  }

  void append_text(std::string_view run, std::vector<int32_t>& ids) const {
    if (run.empty()) return;
    std::vector<std::string_view> pieces = {run};
    for (const SplitRegex regex : splits_) {
      std::vector<std::string_view> finer;
      for (const std::string_view piece : pieces) {
        const auto parts = split(piece, regex);
        finer.insert(finer.end(), parts.begin(), parts.end());
      }
      pieces = std::move(finer);
    }
    for (const std::string_view piece : pieces) append_pretoken(piece, ids);
  }

  void append_pretoken(std::string_view pretoken, std::vector<int32_t>& ids) const {
    if (ignore_merges_) {
      std::string symbols;
      for (const char byte : pretoken)
        symbols += byte_symbol_text(static_cast<unsigned char>(byte));
      const auto whole = vocab_.find(symbols);
      if (whole != vocab_.end()) {
        ids.push_back(whole->second);
        return;
      }
    }
    std::vector<int32_t> symbols;
    symbols.reserve(pretoken.size());
    for (const char c : pretoken) {
      const auto byte = static_cast<unsigned char>(c);
      const int32_t id = byte_ids_[byte];
      VLM_CHECK(id >= 0, FormatError, path_, ": model.vocab has no symbol for byte ",
                hex_byte(byte), " (", byte_symbol_text(byte),
                "), which the text has: not a byte-level vocabulary");
      symbols.push_back(id);
    }
    merge_by_rank(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }

  // Merges the adjacent pair of lowest rank (the leftmost of equal ones) until none has a merge,
  // as HF's BPE does. A heap over a linked list keeps long pre-tokens (runs of spaces or
  // punctuation) at O(n log n).
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
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_token_;  // id -> vocab string ("" where the ids have a gap)
  std::vector<std::string> id_bytes_;  // id -> the bytes it stands for
  std::vector<bool> in_vocab_;
  std::array<int32_t, 256> byte_ids_{};  // -1: the vocab lacks the byte's symbol
  std::unordered_map<uint64_t, MergeRule> merges_;
  std::vector<SplitRegex> splits_;
  bool ignore_merges_ = false;
  std::vector<SpecialToken> specials_;  // longest first
  std::unordered_map<int32_t, std::string> special_text_;
  std::array<bool, 256> special_first_byte_{};
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  int64_t vocab_size_ = 0;
};

}  // namespace

void append_utf8(char32_t code, std::string& out) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path) {
  return std::make_unique<HfTokenizer>(tokenizer_json_path, SpecReader(tokenizer_json_path).read());
}

std::vector<std::string> qwen2_pretokens(const std::string& text) {
  std::vector<std::string> pieces;
  for (const std::string_view piece : split(text, SplitRegex::kQwen2)) pieces.emplace_back(piece);
  return pieces;
}

// Here rather than beside load_sentencepiece: the choice is by the HF file's name.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const std::string suffix = ".json";
  const bool is_json = path.size() >= suffix.size() &&
                       path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return is_json ? load_hf_tokenizer(path) : load_sentencepiece(path);
}

}  // namespace vlm::data
