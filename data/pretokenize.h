// The split regexes of Hugging Face tokenizer.json pre-tokenizers, matched by hand over ICU's
// character classes (data/unicode_text.h), with Oniguruma's semantics: alternatives in order,
// greedy quantifiers with backtracking. A general regex engine is not needed: these few patterns
// are what byte-level BPE files use, and each is recognized by its exact text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::data {

enum class SplitRegex {
  // GPT-2's, which ByteLevel with use_regex applies:
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Qwen2's Split (Qwen2, Qwen2.5, Qwen3), digits one by one:
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,
  // cl100k's / Llama 3's Split: Qwen2's with \p{N}{1,3} for \p{N}.
  kCl100k,
};

// The regex a Split pre-tokenizer's pattern ("Regex" text) is, when it is one of the above.
std::optional<SplitRegex> known_split_regex(const std::string& pattern);

// The pieces the regex matches, in order; they tile the text (each of these regexes matches at
// every position). Ill-formed UTF-8 bytes are characters of their own, of none of the classes.
std::vector<std::string_view> split(std::string_view text, SplitRegex regex);

// split() with kQwen2, as strings (for tests).
std::vector<std::string> qwen2_pretokens(const std::string& text);

}  // namespace vlm::data
