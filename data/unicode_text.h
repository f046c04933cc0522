// UTF-8 and the Unicode facts the Hugging Face tokenizers depend on, from ICU (which stays
// private to data/: nothing here exposes an ICU type).
//
// Whose definitions: the split regexes of a tokenizer.json run, in Hugging Face's tokenizers, on
// Oniguruma 6.9.8 (the onig crate's bundled copy). Its \p{L} and \p{N} are those of Unicode 14.0,
// its \s is U+0009-U+000D, U+0085 and the Zs/Zl/Zp characters, and its (?i:...) matches by simple
// case folding (so "'ſ" is the contraction "'s"). char_class() and folds_to() give exactly those
// answers from ICU: ICU 72 knows Unicode 15.0, so a character assigned after 14.0 counts as
// unassigned, as Oniguruma 6.9.8 has it. (JavaScript regexes differ: their \s has U+FEFF and lacks
// U+0085, and they know the Unicode of their ICU.)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vlm::data {

// The classes the split regexes distinguish: \p{L}, \p{N}, \s, anything else.
enum class CharClass { kLetter, kNumber, kSpace, kOther };

CharClass char_class(char32_t code);

// Whether `code` matches the ASCII lower-case letter `lower` case-insensitively (simple case
// folding: 'S' and 'ſ' match 's').
bool folds_to(char32_t code, char lower);

// The well-formed UTF-8 sequence at text[pos] (pos < text.size()), if there is one: its code point
// and length. Overlong forms, surrogates and code points past U+10FFFF are not well-formed.
std::optional<std::pair<char32_t, size_t>> read_utf8(std::string_view text, size_t pos);

// Appends a code point as UTF-8 (1-4 bytes).
void append_utf8(char32_t code, std::string& out);

// Unicode Normalization Form C. Ill-formed UTF-8 bytes are kept as they are (each one ends the
// stretch of text around it, as no character composes across it), so the result has the input's
// invalid bytes at the same places between normalized text.
std::string nfc(std::string_view text);

}  // namespace vlm::data
