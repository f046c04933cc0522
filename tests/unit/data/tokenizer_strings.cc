#include "tests/unit/data/tokenizer_strings.h"

#include <cctype>
#include <functional>
#include <string_view>

#include "data/unicode_text.h"

namespace vlm::testing {
namespace {

// SplitMix64: the same numbers on every platform and standard library (std:: distributions are
// implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  int between(int low, int high) { return low + static_cast<int>(below(size_t(high - low + 1))); }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  uint64_t state_;
};

std::string utf8(char32_t code) {
  std::string out;
  data::append_utf8(code, out);
  return out;
}

struct Range {
  char32_t first, last;
};

// Every range below holds only characters assigned in Unicode 14.0 or earlier (checked against
// ICU's character ages when the list was made).
const std::vector<std::vector<Range>>& script_letters() {
  static const std::vector<std::vector<Range>> scripts = {
      {{0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0xFF}, {0x100, 0x17F}, {0x180, 0x24F}},  // Latin
      {{0x250, 0x2AF}},                                                            // IPA
      {{0x391, 0x3A1}, {0x3A3, 0x3A9}, {0x3AC, 0x3CE}},                            // Greek
      {{0x400, 0x44F}, {0x450, 0x45F}},                                            // Cyrillic
      {{0x531, 0x556}, {0x561, 0x586}},                                            // Armenian
      {{0x5D0, 0x5EA}},                                                            // Hebrew
      {{0x621, 0x63A}, {0x641, 0x64A}},                                            // Arabic
      {{0x905, 0x939}},                                                            // Devanagari
      {{0x985, 0x98C}, {0x98F, 0x990}, {0x993, 0x9A8}},                            // Bengali
      {{0xB85, 0xB8A}, {0xB8E, 0xB90}},                                            // Tamil
      {{0xE01, 0xE3A}, {0xE40, 0xE4E}},                                            // Thai
      {{0x10D0, 0x10FA}},                                                          // Georgian
      {{0x1200, 0x1248}},                                                          // Ethiopic
      {{0xF40, 0xF47}, {0xF49, 0xF6C}},                                            // Tibetan
      {{0x1780, 0x17B3}},                                                          // Khmer
      {{0x13A0, 0x13F4}},                                                          // Cherokee
      {{0xAC00, 0xD7A3}},                                                          // Hangul
      {{0x3041, 0x3096}, {0x30A1, 0x30FA}},                                        // Kana
      {{0x4E00, 0x9FA5}, {0x20000, 0x2A6D6}},                                      // Han
      {{0x1D400, 0x1D454}, {0x10330, 0x1034A}},  // math letters, Gothic
  };
  return scripts;
}

// Marks that follow letters in some scripts (Hebrew points, Arabic harakat, Devanagari matras).
const std::vector<Range> kScriptMarks = {{0x5B0, 0x5BD}, {0x64B, 0x652}, {0x93E, 0x94D}};
const std::vector<Range> kCombiningMarks = {
    {0x300, 0x36F}, {0x1AB0, 0x1ABE}, {0x1DC0, 0x1DF9}, {0x20D0, 0x20F0}, {0xFE20, 0xFE2F}};
const std::vector<Range> kDigitSets = {{'0', '9'},      {0x660, 0x669}, {0x6F0, 0x6F9},
                                       {0x966, 0x96F},  {0x9E6, 0x9EF}, {0xE50, 0xE59},
                                       {0xFF10, 0xFF19}};
const std::vector<Range> kOtherNumbers = {
    {0xB2, 0xB3},     {0xB9, 0xB9},     {0xBC, 0xBE},     {0x2070, 0x2070}, {0x2074, 0x2079},
    {0x2080, 0x2089}, {0x2150, 0x215F}, {0x2160, 0x2188}, {0x2460, 0x249B}, {0x24EA, 0x24FF},
    {0x2776, 0x2793}, {0x3007, 0x3007}, {0x3021, 0x3029}};
const std::vector<Range> kEmoji = {{0x1F300, 0x1F5FF}, {0x1F600, 0x1F64F}, {0x1F680, 0x1F6C5},
                                   {0x1F910, 0x1F93E}, {0x1F980, 0x1F9C0}, {0x2600, 0x26FF},
                                   {0x2700, 0x27BF}};
const std::vector<Range> kPunctuation = {{0x21, 0x2F},     {0x3A, 0x40},     {0x5B, 0x60},
                                         {0x7B, 0x7E},     {0xA1, 0xB1},     {0x2010, 0x2027},
                                         {0x2030, 0x205E}, {0x2190, 0x21FF}, {0x2200, 0x22FF},
                                         {0x3001, 0x303F}, {0xFF01, 0xFF0F}};
// Every kind of whitespace the regexes tell apart, and characters that look like it: NEL (U+0085,
// \s in Oniguruma only), BOM (U+FEFF, \s in JavaScript only), ZWSP, MVS (formats, not spaces).
const std::vector<std::string> kSpaces = {" ",
                                          "  ",
                                          "\t",
                                          "\n",
                                          "\r\n",
                                          "\r",
                                          "\v",
                                          "\f",
                                          "\n\n",
                                          " \n",
                                          "\xc2\x85",
                                          "\xc2\xa0",
                                          "\xe1\x9a\x80",
                                          "\xe2\x80\x80",
                                          "\xe2\x80\x83",
                                          "\xe2\x80\x8a",
                                          "\xe2\x80\xa8",
                                          "\xe2\x80\xa9",
                                          "\xe2\x80\xaf",
                                          "\xe2\x81\x9f",
                                          "\xe3\x80\x80",
                                          "\xef\xbb\xbf",
                                          "\xe2\x80\x8b",
                                          "\xe1\xa0\x8e"};
// The added tokens of the three real files, ours, and near misses.
const std::vector<std::string> kSpecials = {"<|im_start|>",
                                            "<|im_end|>",
                                            "<|endoftext|>",
                                            "<think>",
                                            "</think>",
                                            "<tool_call>",
                                            "<|vision_start|>",
                                            "<|image_pad|>",
                                            "<|fim_middle|>",
                                            "<|begin_of_text|>",
                                            "<|end_of_text|>",
                                            "<|eot_id|>",
                                            "<|start_header_id|>",
                                            "<|end_header_id|>",
                                            "<|reserved_special_token_17|>",
                                            "<|reserved_special_token_250|>",
                                            "<s>",
                                            "</s>",
                                            "<unk>",
                                            "<image>",
                                            "<auto_image>",
                                            "<|im_start",
                                            "<s",
                                            "</ s>",
                                            "<<s>>",
                                            "<|eot_id|>>",
                                            "<|",
                                            "|>",
                                            "<think",
                                            "<|reserved_special_token_9999|>"};
const std::vector<std::string> kWords = {
    "the",       "of",         "and",    "to",     "in",      "is",          "you",
    "that",      "it",         "was",    "for",    "on",      "are",         "with",
    "as",        "I",          "his",    "they",   "be",      "at",          "one",
    "have",      "this",       "from",   "or",     "had",     "by",          "hot",
    "word",      "but",        "what",   "some",   "we",      "can",         "out",
    "other",     "were",       "all",    "there",  "when",    "up",          "use",
    "your",      "how",        "said",   "image",  "shape",   "red",         "circle",
    "assistant", "USER",       "Hello",  "World",  "don't",   "it's",        "WE'LL",
    "they'RE",   "I'm",        "you've", "she'd",  "o'clock", "rock'n'roll", "'tis",
    "y'all",     "l'\xc5\xbf", "naïve",  "café",   "Zürich",  "façade",      "coöperate",
    "résumé",    "tokenizer",  "GPT-2",  "e-mail", "U.S.A.",  "Ph.D.",       "self-attention"};
const std::vector<std::string> kCode = {
    "int main(int argc, char** argv) {\n  return 0;\n}\n",
    "def f(x):\n    return x ** 2  # square\n",
    "for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];",
    "{\"id\": 42, \"name\": \"vlm\", \"tags\": [\"a\", \"b\"], \"ok\": true}",
    "if __name__ == '__main__':\n\tmain()\r\n",
    "x = [i for i in range(10) if i % 2 == 0]",
    "SELECT * FROM users WHERE id >= 100 AND name LIKE '%bob%';",
    "std::vector<std::pair<int, std::string>> v{{1, \"a\"}};",
    "#include <iostream>\n#define MAX(a,b) ((a)>(b)?(a):(b))\n",
    "git commit -m \"fix: off-by-one\" && git push origin HEAD",
    "const f = async (url) => (await fetch(url)).json();",
    "0x1F 0b1010 3.14e-5 1_000_000 .5 1e9 -0.0",
    "    indented\n        more\n\t\ttabs\n",
    "<div class=\"a\"><p>text</p></div>",
    "a->b; c::d; e<<=2; f>>=3; g!=h; i&&j||k",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "/* block */ // line\n/** doc */",
    "$ echo $HOME | tr '/' '\\n'",
    "lambda x: x if x else None",
    "matrix[0][1] = matrix[1][0]  ;;",
};

void append_from(Rng& rng, const std::vector<Range>& ranges, std::string& out) {
  const Range& range = rng.pick(ranges);
  out += utf8(range.first + static_cast<char32_t>(rng.below(range.last - range.first + 1)));
}

std::string script_word(Rng& rng, const std::vector<Range>& script, int min_length,
                        int max_length) {
  std::string word;
  for (int n = rng.between(min_length, max_length); n > 0; --n) append_from(rng, script, word);
  return word;
}

std::string separator(Rng& rng) {
  static const std::vector<std::string> separators = {" ",  " ",  " ",   ", ", ". ", "! ", "? ",
                                                      "; ", ": ", " - ", "\n", " (", ") "};
  return rng.pick(separators);
}

std::string prose(Rng& rng) {
  std::string text;
  for (int n = rng.between(1, 25); n > 0; --n) {
    std::string word = rng.pick(kWords);
    if (rng.chance(15))
      word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
    if (rng.chance(5)) word = "\"" + word + "\"";
    if (rng.chance(5)) word = "'" + word + "'";
    text += word;
    if (n > 1) text += separator(rng);
  }
  static const std::vector<std::string> endings = {".", "!", "?", "...", "\n"};
  if (rng.chance(50)) text += rng.pick(endings);
  return text;
}

std::string scripts(Rng& rng) {
  const auto& all = script_letters();
  std::vector<const std::vector<Range>*> chosen;
  for (int n = rng.between(1, 3); n > 0; --n) chosen.push_back(&rng.pick(all));
  std::string text;
  for (int n = rng.between(1, 12); n > 0; --n) {
    text += script_word(rng, *chosen[rng.below(chosen.size())], 1, 8);
    if (rng.chance(20)) append_from(rng, kScriptMarks, text);
    if (rng.chance(15)) text += rng.pick(kWords);
    if (n > 1) text += separator(rng);
  }
  return text;
}

// Decomposed text: base letters followed by one to three combining marks, in random order (so
// that NFC must reorder them canonically), conjoining jamo that compose to Hangul syllables, and
// marks in odd places (at the start, after a space, a digit, or "<" ">" "=" which compose with
// U+0338).
std::string nfd(Rng& rng) {
  static const std::vector<std::string> bases = {"a",        "e", "i", "o", "u", "A", "E",
                                                 "O",        "n", "c", "s", "z", "y", "\xce\xb1",
                                                 "\xd0\xb8", "<", ">", "=", "1", " ", "q"};
  std::string text;
  for (int n = rng.between(1, 12); n > 0; --n) {
    if (rng.chance(20)) {
      text += utf8(0x1100 + static_cast<char32_t>(rng.below(19)));  // leading consonant
      text += utf8(0x1161 + static_cast<char32_t>(rng.below(21)));  // vowel
      if (rng.chance(50)) text += utf8(0x11A8 + static_cast<char32_t>(rng.below(27)));
    } else {
      const std::string& base = rng.pick(bases);
      text += base;
      if ((base == "<" || base == ">" || base == "=") && rng.chance(50)) text += utf8(0x338);
      for (int marks = rng.between(1, 3); marks > 0; --marks) {
        if (rng.chance(70)) {
          text += utf8(0x300 + static_cast<char32_t>(rng.below(0x70)));
        } else {
          append_from(rng, kCombiningMarks, text);
        }
      }
    }
    if (rng.chance(40)) text += rng.chance(50) ? " " : rng.pick(kWords);
  }
  if (rng.chance(10)) text = utf8(0x301) + text;
  return text;
}

std::string nfc(Rng& rng) {
  static const std::vector<Range> precomposed = {
      {0xC0, 0xD6},   {0xD8, 0xF6},     {0x100, 0x17F}, {0x1E00, 0x1EFF}, {0x1F00, 0x1F15},
      {0x3AC, 0x3CE}, {0xAC00, 0xD7A3}, {0x419, 0x419}, {0x439, 0x439},   {0x2260, 0x2260}};
  std::string text;
  for (int n = rng.between(1, 15); n > 0; --n) {
    if (rng.chance(60)) {
      for (int k = rng.between(1, 6); k > 0; --k) append_from(rng, precomposed, text);
    } else {
      text += rng.pick(kWords);
    }
    if (n > 1) text += separator(rng);
  }
  return text;
}

std::string emoji(Rng& rng) {
  static const std::vector<std::string> sequences = {
      "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",  // family
      "\xe2\x9d\xa4\xef\xb8\x8f",                                                  // red heart
      "1\xef\xb8\x8f\xe2\x83\xa3",                                                 // keycap 1
      "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa",                                          // flag DE
      "\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5",                                          // flag JP
      "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88",                  // rainbow flag
      "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",                                          // thumbs up
  };
  std::string text;
  for (int n = rng.between(1, 10); n > 0; --n) {
    const size_t kind = rng.below(5);
    if (kind == 0) {
      text += rng.pick(sequences);
    } else if (kind == 1) {
      append_from(rng, kEmoji, text);
      text += utf8(0x1F3FB + static_cast<char32_t>(rng.below(5)));  // skin tone
    } else if (kind == 2) {
      text += rng.pick(kWords);
    } else {
      for (int k = rng.between(1, 3); k > 0; --k) append_from(rng, kEmoji, text);
    }
    if (rng.chance(50)) text += rng.chance(70) ? " " : rng.pick(kSpaces);
  }
  return text;
}

std::string code(Rng& rng) {
  std::string text;
  for (int n = rng.between(1, 3); n > 0; --n) {
    text += rng.pick(kCode);
    if (rng.chance(30)) text += std::string(static_cast<size_t>(rng.between(1, 8)), ' ');
    if (rng.chance(30)) text += "\n";
  }
  return text;
}

std::string whitespace(Rng& rng) {
  std::string text;
  for (int n = rng.between(1, 12); n > 0; --n) {
    for (int k = rng.between(1, 4); k > 0; --k) text += rng.pick(kSpaces);
    if (rng.chance(8)) text += std::string(static_cast<size_t>(rng.between(5, 40)), ' ');
    const size_t kind = rng.below(5);
    if (kind == 0) text += rng.pick(kWords);
    if (kind == 1) append_from(rng, kPunctuation, text);
    if (kind == 2) text += std::to_string(rng.below(1000));
    if (kind == 3) text += utf8(static_cast<char32_t>(rng.below(0x20)));  // a control
  }
  return text;
}

std::string digits(Rng& rng) {
  static const std::vector<std::string> separators = {"", "", ",", ".", " ", "'", "_", "-", "/"};
  std::string text;
  for (int n = rng.between(1, 8); n > 0; --n) {
    const Range& set = rng.chance(60) ? kDigitSets[0] : rng.pick(kDigitSets);
    for (int length = rng.between(1, 20); length > 0; --length) {
      text += utf8(set.first + static_cast<char32_t>(rng.below(10)));
      if (rng.chance(10)) text += rng.pick(separators);
    }
    if (rng.chance(25)) append_from(rng, kOtherNumbers, text);
    if (rng.chance(30)) text += rng.pick(kWords);
    text += rng.pick(separators);
    if (rng.chance(50)) text += " ";
  }
  return text;
}

std::string special(Rng& rng) {
  std::string text;
  for (int n = rng.between(1, 8); n > 0; --n) {
    const size_t kind = rng.below(6);
    if (kind <= 1) {
      text += rng.pick(kSpecials);
    } else if (kind == 2) {
      text += rng.pick(kWords);
    } else if (kind == 3) {
      text += rng.pick(kSpaces);
    } else if (kind == 4) {
      text += utf8(0x338);  // composes with a preceding "<" ">" "=" (NFC), not across a token
    } else {
      text += script_word(rng, rng.pick(script_letters()), 1, 5);
    }
  }
  return text;
}

// Anything from anywhere, as a random mixed-script string; every 25th one long (up to ~3,000
// bytes: long words for BPE, long runs of one character).
std::string mixed(Rng& rng) {
  const std::vector<std::function<void(std::string&)>> atoms = {
      [&](std::string& s) { s += script_word(rng, rng.pick(script_letters()), 1, 6); },
      [&](std::string& s) { append_from(rng, kCombiningMarks, s); },
      [&](std::string& s) { append_from(rng, kEmoji, s); },
      [&](std::string& s) { append_from(rng, kPunctuation, s); },
      [&](std::string& s) { append_from(rng, kDigitSets, s); },
      [&](std::string& s) { append_from(rng, kOtherNumbers, s); },
      [&](std::string& s) { s += rng.pick(kSpaces); },
      [&](std::string& s) { s += rng.pick(kWords); },
      [&](std::string& s) { s += rng.pick(kSpecials); },
      [&](std::string& s) { s += static_cast<char>(rng.between(0x20, 0x7E)); },
      [&](std::string& s) { s += utf8(static_cast<char32_t>(rng.below(0x20))); },
  };
  const bool long_one = rng.chance(4);
  std::string text;
  for (int n = long_one ? rng.between(200, 600) : rng.between(1, 40); n > 0; --n) {
    rng.pick(atoms)(text);
  }
  if (long_one && rng.chance(50)) {
    text += std::string(static_cast<size_t>(rng.between(100, 1000)), rng.chance(50) ? 'a' : ' ');
  }
  return text;
}

}  // namespace

const std::vector<std::pair<std::string, int>>& tokenizer_test_categories() {
  static const std::vector<std::pair<std::string, int>> categories = {
      {"prose", 220}, {"scripts", 260},    {"nfd", 220},    {"nfc", 200},     {"emoji", 200},
      {"code", 220},  {"whitespace", 220}, {"digits", 220}, {"special", 240}, {"mixed", 300}};
  return categories;
}

std::vector<TestString> tokenizer_test_strings(uint64_t seed) {
  const std::vector<std::function<std::string(Rng&)>> makers = {
      prose, scripts, nfd, nfc, emoji, code, whitespace, digits, special, mixed};
  Rng rng(seed);
  std::vector<TestString> strings;
  const auto& categories = tokenizer_test_categories();
  for (size_t c = 0; c < categories.size(); ++c) {
    for (int i = 0; i < categories[c].second; ++i) {
      const bool empty = categories[c].first == "whitespace" && i == 0;  // "" once
      strings.push_back({categories[c].first, empty ? std::string() : makers[c](rng)});
    }
  }
  return strings;
}

}  // namespace vlm::testing
