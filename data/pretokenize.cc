// The split regexes of tokenizer.json pre-tokenizers: see data/pretokenize.h.
#include "data/pretokenize.h"

#include <algorithm>

#include "data/unicode_text.h"

namespace vlm::data {
namespace {

constexpr char kGpt2Regex[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|)"
    R"(\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kCl100kRegex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+)"
    R"([\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Char {
  size_t begin;  // byte offset
  char32_t code;
  CharClass cls;
};

// Ill-formed bytes become characters of class kOther (code U+FFFD, which no pattern names).
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
    chars.push_back({pos, decoded->first, char_class(decoded->first)});
    pos += decoded->second;
  }
  return chars;
}

// Matches one regex at a character position and returns where the match ends.
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

  // 's|'t|'re|'ve|'m|'ll|'d, by case folding when case_insensitive: the match's length or 0.
  size_t contraction(size_t i, bool case_insensitive) const {
    if (i >= n_ || chars_[i].code != '\'') return 0;
    const auto letter = [&](size_t k, char lower) {
      if (k >= n_) return false;
      return case_insensitive ? folds_to(chars_[k].code, lower) : chars_[k].code == char32_t(lower);
    };
    for (const char single : {'s', 't', 'm', 'd'}) {
      if (letter(i + 1, single)) return 2;
    }
    if ((letter(i + 1, 'r') || letter(i + 1, 'v')) && letter(i + 2, 'e')) return 3;
    if (letter(i + 1, 'l') && letter(i + 2, 'l')) return 3;
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

}  // namespace

std::optional<SplitRegex> known_split_regex(const std::string& pattern) {
  if (pattern == kQwen2Regex) return SplitRegex::kQwen2;
  if (pattern == kCl100kRegex) return SplitRegex::kCl100k;
  if (pattern == kGpt2Regex) return SplitRegex::kGpt2;
  return std::nullopt;
}

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

std::vector<std::string> qwen2_pretokens(const std::string& text) {
  std::vector<std::string> pieces;
  for (const std::string_view piece : split(text, SplitRegex::kQwen2)) pieces.emplace_back(piece);
  return pieces;
}

}  // namespace vlm::data
