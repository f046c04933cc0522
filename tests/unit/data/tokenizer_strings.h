// Test strings for comparing tokenizers with a reference implementation: a deterministic (seeded)
// generator, so the same strings come out on every machine and every run.
//
// Categories: prose (English with contractions and punctuation), scripts (words in 20 scripts),
// nfd (decomposed text: base letters with combining marks in any order, conjoining Hangul jamo),
// nfc (precomposed text), emoji (modifiers, ZWJ sequences, flags, keycaps), code, whitespace
// (runs of every Unicode space, controls, NEL, BOM), digits (many digit sets and lengths), special
// (the real files' added tokens, "<image>", near misses) and mixed (random mixed-script strings,
// some of them long). Every character is one assigned in Unicode 14.0 or earlier (the Unicode of
// Oniguruma 6.9.8, Hugging Face's regex engine): a newer one would be classed differently by it,
// by Debian's ICU and by Node's ICU. Strings are valid UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vlm::testing {

struct TestString {
  std::string category;
  std::string text;
};

// The categories and how many strings each gets, in generation order.
const std::vector<std::pair<std::string, int>>& tokenizer_test_categories();

// All strings of all categories (2,300), in category order.
std::vector<TestString> tokenizer_test_strings(uint64_t seed = 20261202);

}  // namespace vlm::testing
