// The byte-level BPE reader of data/hf_tokenizer.h on small tokenizer.json files written here.
// Expected ids are worked out by hand in the comments; the fixture's vocabulary is:
//   ids 0-255: the byte symbols, id = byte value (" " is "Ġ" = 32, "\n" is "Ċ" = 10, "t" = 116)
//   ids 256-277: one token per merge, in rank order (kMerges below: rank r makes id 256 + r)
//   ids 278-282: added tokens <|endoftext|>, <|im_start|>, <|im_end|>, <ref>, <ref></ref>
//   vocab_size 283; a caller's added token (<auto_image>) gets id 283
// A second fixture, shaped like LLaMA-2's (SentencePiece converted to BPE), is described at
// llama_like() below.
#include "data/hf_tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "data/pretokenize.h"
#include "data/tokenizer.h"
#include "data/unicode_text.h"
#include "tests/support/temp_dir.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|)"
    R"(\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kCl100kRegex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+)"
    R"([\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Merges as raw bytes (left, right), by rank. "\xc3\xa9" is "é" (its byte symbols are "Ã©").
const std::vector<std::pair<std::string, std::string>> kMerges = {
    {" ", "t"},            // 0 -> 256 " t"
    {"h", "e"},            // 1 -> 257 "he"
    {" t", "he"},          // 2 -> 258 " the"
    {"i", "n"},            // 3 -> 259 "in"
    {" ", "in"},           // 4 -> 260 " in"
    {"t", "h"},            // 5 -> 261 "th"
    {"o", "n"},            // 6 -> 262 "on"
    {"d", "on"},           // 7 -> 263 "don"
    {"'", "t"},            // 8 -> 264 "'t"
    {" ", "c"},            // 9 -> 265 " c"
    {"a", "t"},            // 10 -> 266 "at"
    {" c", "at"},          // 11 -> 267 " cat"
    {"\n", "\n"},          // 12 -> 268 "\n\n"
    {"l", "l"},            // 13 -> 269 "ll"
    {"\xc3", "\xa9"},      // 14 -> 270 "é"
    {"h", "\xc3\xa9"},     // 15 -> 271 "hé"
    {"h\xc3\xa9", "ll"},   // 16 -> 272 "héll"
    {"h\xc3\xa9ll", "o"},  // 17 -> 273 "héllo"
    {"e", "r"},            // 18 -> 274 "er"
    {"u", "s"},            // 19 -> 275 "us"
    {"us", "er"},          // 20 -> 276 "user"
    {"2", "0"},            // 21 -> 277 "20"
};
constexpr int32_t kEndOfText = 278, kImStart = 279, kImEnd = 280, kRef = 281, kRefPair = 282;
constexpr int32_t kVocabSize = 283;

std::string utf8(char32_t code) {
  std::string out;
  append_utf8(code, out);
  return out;
}

// GPT-2's byte symbols, computed here on their own: a printable byte is itself, the n-th
// unprintable one (in byte order) is 256 + n.
bool printable(int byte) {
  return (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
}
std::string symbols(const std::string& raw) {
  std::string out;
  for (const char c : raw) {
    const int byte = static_cast<unsigned char>(c);
    int code = byte;
    if (!printable(byte)) {
      code = 256;
      for (int earlier = 0; earlier < byte; ++earlier) code += printable(earlier) ? 0 : 1;
    }
    out += utf8(static_cast<char32_t>(code));
  }
  return out;
}

Json split_step(const std::string& regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

Json byte_level_step(bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", false},
          {"use_regex", use_regex}};
}

// Shaped like Qwen2.5's tokenizer.json (same pre-tokenizer, normalizer, post-processor).
Json qwen_like(bool merges_as_pairs = false) {
  Json vocab = Json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[symbols(std::string(1, char(byte)))] = byte;
  Json merges = Json::array();
  for (size_t rank = 0; rank < kMerges.size(); ++rank) {
    const std::string left = symbols(kMerges[rank].first), right = symbols(kMerges[rank].second);
    vocab[left + right] = 256 + static_cast<int>(rank);
    merges.push_back(merges_as_pairs ? Json::array({left, right}) : Json(left + " " + right));
  }
  Json added = Json::array();
  int32_t id = kEndOfText;
  for (const char* content :
       {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<ref>", "<ref></ref>"}) {
    added.push_back({{"id", id++},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers", Json::array({split_step(kQwen2Regex), byte_level_step(false)})}}},
          {"post_processor",
           {{"type", "ByteLevel"},
            {"add_prefix_space", false},
            {"trim_offsets", false},
            {"use_regex", false}}},
          {"decoder", byte_level_step(false)},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

class HfTokenizerTest : public ::testing::Test {
 protected:
  std::string write(const Json& json, const std::string& name = "tokenizer.json") {
    return write_text(json.dump(), name);
  }
  std::string write_text(const std::string& text, const std::string& name) {
    const std::string path = dir_.file(name);
    std::FILE* file = std::fopen(path.c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), file);
    std::fclose(file);
    return path;
  }
  std::unique_ptr<Tokenizer> load(const Json& json, const std::vector<std::string>& added = {}) {
    return load_hf_tokenizer(write(json), added);
  }
  // The FormatError message of loading json, or "" when it loads.
  std::string format_error(const Json& json) {
    try {
      load(json);
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  }

  vlm::testing::TempDir dir_;
};

TEST_F(HfTokenizerTest, EncodesPlainWordsWithSpaces) {
  const auto tokenizer = load(qwen_like());
  // Pre-tokens "the", " cat", " in", " the", " hat" (a space joins the word after it).
  // "the":  [t h e]: (h,e) rank 1 beats (t,h) rank 5 -> [t he]; no merge "t he" -> 116 257.
  // " cat": [Ġ c a t]: (Ġ,c) 9 -> [Ġc a t]; (a,t) 10 -> [Ġc at]; (Ġc,at) 11 -> 267.
  // " in":  [Ġ i n]: (i,n) 3 -> [Ġ in]; (Ġ,in) 4 -> 260.
  // " the": [Ġ t h e]: (Ġ,t) 0 -> [Ġt h e]; (h,e) 1 -> [Ġt he]; (Ġt,he) 2 -> 258.
  // " hat": [Ġ h a t]: only (a,t) 10 -> [Ġ h at] -> 32 104 266.
  EXPECT_EQ(tokenizer->encode("the cat in the hat"), (Ids{116, 257, 267, 260, 258, 32, 104, 266}));
  EXPECT_EQ(tokenizer->piece(258), "\xc4\xa0the");  // "Ġthe"
}

TEST_F(HfTokenizerTest, SplitsDigitsOneByOne) {
  const auto tokenizer = load(qwen_like());
  // Pre-tokens "in", " ", "2", "0", "2", "4": a space before a digit stands alone (\s+), and
  // \p{N} takes one digit, so the merge (2,0) never applies -> 259 32 50 48 50 52.
  EXPECT_EQ(tokenizer->encode("in 2024"), (Ids{259, 32, 50, 48, 50, 52}));
}

TEST_F(HfTokenizerTest, SplitsContractions) {
  const auto tokenizer = load(qwen_like());
  // Pre-tokens "don", "'t". "don": [d o n]: (o,n) 6 -> [d on]; (d,on) 7 -> 263. "'t": 264.
  EXPECT_EQ(tokenizer->encode("don't"), (Ids{263, 264}));
}

TEST_F(HfTokenizerTest, KeepsNewlinesInTheirOwnPreTokens) {
  const auto tokenizer = load(qwen_like());
  // "in", "\n\n" (\s*[\r\n]+), "the": 259, (Ċ,Ċ) 12 -> 268, [t he] -> 116 257.
  EXPECT_EQ(tokenizer->encode("in\n\nthe"), (Ids{259, 268, 116, 257}));
  // "in", " \n" (\s*[\r\n]+ stops after the last newline), " the": 259, 32 10, 258.
  EXPECT_EQ(tokenizer->encode("in \n the"), (Ids{259, 32, 10, 258}));
}

TEST_F(HfTokenizerTest, MergesMultiByteCharacters) {
  const auto tokenizer = load(qwen_like());
  // "héllo" is one pre-token (é is a letter) of bytes h C3 A9 l l o = [h Ã © l l o].
  // Lowest rank first: (l,l) 13 -> [h Ã © ll o]; (Ã,©) 14 -> [h é ll o]; (h,é) 15 -> [hé ll o];
  // (hé,ll) 16 -> [héll o]; (héll,o) 17 -> 273.
  EXPECT_EQ(tokenizer->encode("h\xc3\xa9llo"), (Ids{273}));
  // " héllo" is one pre-token too (a space then letters); no merge starts with Ġ + h -> 32 273.
  EXPECT_EQ(tokenizer->encode(" h\xc3\xa9llo"), (Ids{32, 273}));
}

TEST_F(HfTokenizerTest, MatchesAddedTokensBeforeBpe) {
  const auto tokenizer = load(qwen_like());
  // <|im_start|>, then "user\nthe cat" -> pre-tokens "user", "\n", "the", " cat":
  // "user": [u s e r]: (e,r) 18 -> [u s er]; (u,s) 19 -> [us er]; (us,er) 20 -> 276.
  // "\n" -> 10; "the" -> 116 257; " cat" -> 267; then <|im_end|>, then "\n" -> 10.
  EXPECT_EQ(tokenizer->encode("<|im_start|>user\nthe cat<|im_end|>\n"),
            (Ids{kImStart, 276, 10, 116, 257, 267, kImEnd, 10}));
  // Longest first: "<ref></ref>" is one token, not <ref> then text.
  EXPECT_EQ(tokenizer->encode("<ref></ref>"), (Ids{kRefPair}));
  EXPECT_EQ(tokenizer->encode("<ref>the"), (Ids{kRef, 116, 257}));
  EXPECT_EQ(tokenizer->encode("<|endoftext|><|endoftext|>"), (Ids{kEndOfText, kEndOfText}));
}

TEST_F(HfTokenizerTest, ImageMarkerIsTheSlotAndNothingIsAddedUnasked) {
  const auto tokenizer = load(qwen_like());
  EXPECT_EQ(tokenizer->encode("<image>"), (Ids{kImageToken}));
  // "look" has no merges -> 108 111 111 107; " " before "<" ends a run on its own -> 32.
  EXPECT_EQ(tokenizer->encode("look <image>\n"), (Ids{108, 111, 111, 107, 32, kImageToken, 10}));
  EXPECT_EQ(tokenizer->special_id("<image>"), kImageToken);
  EXPECT_EQ(tokenizer->vocab_size(), kVocabSize);
  // No <auto_image> unless the caller adds it: the text is plain text then.
  EXPECT_THROW(tokenizer->special_id("<auto_image>"), ConfigError);
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("<auto_image>")), "<auto_image>");

  // A file with its own "<image>" token: the text still means the slot; the id decodes.
  Json json = qwen_like();
  json["added_tokens"].push_back({{"id", 283}, {"content", "<image>"}});
  const auto with_image = load(json);
  EXPECT_EQ(with_image->encode("<image>"), (Ids{kImageToken}));
  EXPECT_EQ(with_image->decode({283}), "<image>");
  EXPECT_EQ(with_image->vocab_size(), 284);
}

TEST_F(HfTokenizerTest, AddedTokensComeAfterTheLargestId) {
  // "he" is in the vocabulary (257): it keeps its id and is matched in text from then on.
  const auto tokenizer = load(qwen_like(), {"<auto_image>", "<|im_end|>", "<extra>", "he"});
  EXPECT_EQ(tokenizer->special_id("<auto_image>"), 283);
  EXPECT_EQ(tokenizer->special_id("<|im_end|>"), kImEnd);  // the file's own keeps its id
  EXPECT_EQ(tokenizer->special_id("<extra>"), 284);
  EXPECT_EQ(tokenizer->special_id("he"), 257);
  EXPECT_EQ(tokenizer->encode("the"), (Ids{116, 257}));
  EXPECT_EQ(tokenizer->vocab_size(), 285);
  EXPECT_EQ(tokenizer->encode("<auto_image>x<extra>"), (Ids{283, 120, 284}));
  EXPECT_EQ(tokenizer->decode({kImageToken, 283, 284}), "<image><auto_image><extra>");
  EXPECT_EQ(tokenizer->piece(284), "<extra>");
  EXPECT_THROW(load(qwen_like(), {"<image>"}), ConfigError);
  EXPECT_THROW(load(qwen_like(), {""}), ConfigError);
}

TEST_F(HfTokenizerTest, SpecialIdsFollowQwenChat) {
  const auto tokenizer = load(qwen_like());
  EXPECT_EQ(tokenizer->bos_id(), -1);
  EXPECT_EQ(tokenizer->eos_id(), kImEnd);
  EXPECT_EQ(tokenizer->pad_id(), kEndOfText);
  EXPECT_EQ(tokenizer->special_id("<|im_start|>"), kImStart);
  EXPECT_EQ(tokenizer->piece(kImEnd), "<|im_end|>");
  EXPECT_THROW(tokenizer->special_id("<video>"), ConfigError);

  // Without <|im_end|>, EOS falls back to <|endoftext|> (its id stays).
  Json json = qwen_like();
  json["added_tokens"].erase(2);
  EXPECT_EQ(load(json)->eos_id(), kEndOfText);

  // A TemplateProcessing post-processor that starts with a special token names the BOS.
  json = qwen_like();
  json["added_tokens"].push_back({{"id", 283}, {"content", "<s>"}, {"special", true}});
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", Json::array()},
      {"special_tokens", Json::object()}};
  const auto with_bos = load(json, {"<auto_image>"});
  EXPECT_EQ(with_bos->bos_id(), 283);
  EXPECT_EQ(with_bos->special_id("<auto_image>"), 284);
  EXPECT_EQ(with_bos->vocab_size(), 285);

  // Llama 3's names: <|eot_id|> (end of a turn) before <|end_of_text|>.
  json = qwen_like();
  json["added_tokens"] = Json::array();
  for (const auto& [content, id] : std::vector<std::pair<std::string, int>>{
           {"<|begin_of_text|>", 300}, {"<|end_of_text|>", 301}, {"<|eot_id|>", 309}}) {
    json["added_tokens"].push_back({{"id", id}, {"content", content}});
  }
  const auto llama3 = load(json);
  EXPECT_EQ(llama3->bos_id(), 300);
  EXPECT_EQ(llama3->eos_id(), 309);
  EXPECT_EQ(llama3->pad_id(), 309);
  json["added_tokens"].erase(2);
  EXPECT_EQ(load(json)->eos_id(), 301);
  json["added_tokens"].erase(1);
  EXPECT_NE(format_error(json).find("end-of-sequence"), std::string::npos);
}

TEST_F(HfTokenizerTest, MergeRanksDecideTheResult) {
  // The same vocabulary, the merges (h,e) and (t,h) in either order: "the" is [t h e], and the
  // lower-ranked pair merges first, leaving no merge for the rest.
  Json json = qwen_like();
  Json& model = json["model"];
  model["vocab"] = Json::object();
  for (int byte = 0; byte < 256; ++byte) model["vocab"][symbols(std::string(1, char(byte)))] = byte;
  model["vocab"]["he"] = 256;
  model["vocab"]["th"] = 257;
  model["merges"] = Json::array({"h e", "t h"});
  EXPECT_EQ(load(json)->encode("the"), (Ids{116, 256}));  // [t he]
  model["merges"] = Json::array({"t h", "h e"});
  EXPECT_EQ(load(json)->encode("the"), (Ids{257, 101}));  // [th e]
}

TEST_F(HfTokenizerTest, BothMergeFormatsLoadAlike) {
  const auto strings = load(qwen_like(false));
  const auto pairs = load_hf_tokenizer(write(qwen_like(true), "pairs.json"));
  for (const std::string text : {"the cat in the hat", "h\xc3\xa9llo user", "don't 2024\n\n"}) {
    EXPECT_EQ(pairs->encode(text), strings->encode(text)) << text;
  }
  EXPECT_EQ(pairs->encode("the cat"), (Ids{116, 257, 267}));
}

TEST_F(HfTokenizerTest, OtherSplitRegexes) {
  // GPT-2's (ByteLevel with use_regex): " 2024" is one pre-token [Ġ 2 0 2 4]; (2,0) 21 merges
  // -> [Ġ 20 2 4] -> 32 277 50 52.
  Json json = qwen_like();
  json["pre_tokenizer"] = byte_level_step(true);
  EXPECT_EQ(load(json)->encode("in 2024"), (Ids{259, 32, 277, 50, 52}));
  // cl100k / Llama 3 (\p{N}{1,3}): "2024" -> "202" [20 2] and "4" -> 277 50 52.
  json = qwen_like();
  json["pre_tokenizer"]["pretokenizers"][0] = split_step(kCl100kRegex);
  EXPECT_EQ(load(json)->encode("2024"), (Ids{277, 50, 52}));
}

TEST_F(HfTokenizerTest, IgnoreMergesTakesWholeVocabWords) {
  // " hat" merges to [Ġ h at] (see above); with ignore_merges, a vocab entry " hat" wins.
  Json json = qwen_like();
  json["model"]["vocab"][symbols(" hat")] = 290;
  EXPECT_EQ(load(json)->encode(" hat"), (Ids{32, 104, 266}));
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(json)->encode(" hat"), (Ids{290}));
}

TEST_F(HfTokenizerTest, PreTokensFollowQwen2Regex) {
  using Pieces = std::vector<std::string>;
  // Two spaces before a word: \s+(?!\S) leaves the last space to the word.
  EXPECT_EQ(qwen2_pretokens("  hello"), (Pieces{" ", " hello"}));
  // Any one non-letter, non-digit, non-newline character may lead a word, a tab too.
  EXPECT_EQ(qwen2_pretokens("\thello"), (Pieces{"\thello"}));
  EXPECT_EQ(qwen2_pretokens("a  \n\n  b"), (Pieces{"a", "  \n\n", " ", " b"}));
  EXPECT_EQ(qwen2_pretokens("I'M x'LL"), (Pieces{"I", "'M", " x", "'LL"}));  // case-insensitive
  EXPECT_EQ(qwen2_pretokens("hello!!!\n\nworld"), (Pieces{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(qwen2_pretokens("$100 ok  "), (Pieces{"$", "1", "0", "0", " ok", "  "}));
  EXPECT_EQ(qwen2_pretokens("x\r\ny"), (Pieces{"x", "\r\n", "y"}));
  // Letters beyond ASCII: Latin-1, CJK and Cyrillic are \p{L}; "×" (U+00D7) is not.
  EXPECT_EQ(qwen2_pretokens("na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 \xd0\xb4\xc3\x97"),
            (Pieces{"na\xc3\xafve", " \xe4\xb8\xad\xe6\x96\x87", " \xd0\xb4", "\xc3\x97"}));
  // Thai and Devanagari vowel signs are marks (Mn), not letters: a mark leads the next letters
  // ("สวัสดี", "नमस्ते").
  EXPECT_EQ(
      qwen2_pretokens("\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5"),
      (Pieces{"\xe0\xb8\xaa\xe0\xb8\xa7", "\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94", "\xe0\xb8\xb5"}));
  EXPECT_EQ(
      qwen2_pretokens("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87"),
      (Pieces{"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8", "\xe0\xa5\x8d\xe0\xa4\xa4", "\xe0\xa5\x87"}));
  // Oniguruma's \s has NEL (U+0085) and not BOM (U+FEFF): two NELs are a run of spaces whose
  // last one leads the word; two BOMs are punctuation.
  EXPECT_EQ(qwen2_pretokens("a\xc2\x85\xc2\x85"
                            "b"),
            (Pieces{"a", "\xc2\x85",
                    "\xc2\x85"
                    "b"}));
  EXPECT_EQ(qwen2_pretokens("a\xef\xbb\xbf\xef\xbb\xbf"
                            "b"),
            (Pieces{"a", "\xef\xbb\xbf\xef\xbb\xbf", "b"}));
  // (?i:'s) matches by case folding: "'ſ" (U+017F) is a contraction.
  EXPECT_EQ(qwen2_pretokens("x'\xc5\xbft"), (Pieces{"x", "'\xc5\xbf", "t"}));
  // A letter new in Unicode 15.0 (U+11F04, Kawi) is unassigned to Oniguruma 6.9.8: not \p{L}.
  EXPECT_EQ(qwen2_pretokens("a\xf0\x91\xbc\x84"
                            "b"),
            (Pieces{"a",
                    "\xf0\x91\xbc\x84"
                    "b"}));
}

TEST(UnicodeText, CharacterClassesAreOnigurumas) {
  EXPECT_EQ(char_class(U'a'), CharClass::kLetter);
  EXPECT_EQ(char_class(0x0E01), CharClass::kLetter);  // Thai KO KAI
  EXPECT_EQ(char_class(0x0E31), CharClass::kOther);   // Thai vowel sign: Mn
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);   // combining acute
  EXPECT_EQ(char_class(0x0966), CharClass::kNumber);  // Devanagari zero
  EXPECT_EQ(char_class(0x2164), CharClass::kNumber);  // Roman numeral five (Nl)
  EXPECT_EQ(char_class(0x00BD), CharClass::kNumber);  // one half (No)
  EXPECT_EQ(char_class(0x0085), CharClass::kSpace);   // NEL
  EXPECT_EQ(char_class(0x3000), CharClass::kSpace);   // ideographic space
  EXPECT_EQ(char_class(0x2029), CharClass::kSpace);   // paragraph separator
  EXPECT_EQ(char_class(0xFEFF), CharClass::kOther);   // BOM: a format character
  EXPECT_EQ(char_class(0x001C), CharClass::kOther);   // file separator: not \s here
  EXPECT_EQ(char_class(0x11F04), CharClass::kOther);  // Unicode 15.0
  EXPECT_EQ(char_class(0x1E030), CharClass::kOther);  // Unicode 15.0 (modifier letter)
  EXPECT_TRUE(folds_to(0x017F, 's'));
  EXPECT_TRUE(folds_to(U'S', 's'));
  EXPECT_FALSE(folds_to(0x00DF, 's'));  // sharp s folds to "ss", not "s"
}

TEST(UnicodeText, NfcComposesAndKeepsIllFormedBytes) {
  EXPECT_EQ(nfc("e\xcc\x81"), "\xc3\xa9");                                 // e + acute -> é
  EXPECT_EQ(nfc("\xe2\x84\xab"), "\xc3\x85");                              // Angstrom sign -> Å
  EXPECT_EQ(nfc("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"), "\xed\x95\x9c");  // jamo -> 한
  EXPECT_EQ(nfc("a\xcc\x81\xcc\xa3"), "\xe1\xba\xa1\xcc\x81");  // reordered, then ạ + acute
  EXPECT_EQ(nfc("e\xff"
                "e\xcc\x81\xcc"),
            "e\xff\xc3\xa9\xcc");  // bad bytes stay in place
  EXPECT_EQ(nfc(""), "");
}

// Valid UTF-8 from a mix of ASCII (controls included), Latin-1, CJK, emoji, Unicode spaces and
// the special strings.
std::string random_text(std::mt19937& rng) {
  const std::vector<std::string> specials = {"<|im_start|>", "<|im_end|>",   "<image>",
                                             "<ref>",        "<auto_image>", "<|endoftext|>"};
  std::uniform_int_distribution<int> length(0, 40), kind(0, 9);
  std::string text;
  for (int n = length(rng); n > 0; --n) {
    switch (kind(rng)) {
      case 0:
        text += specials[std::uniform_int_distribution<size_t>(0, specials.size() - 1)(rng)];
        break;
      case 1:
        text += utf8(std::uniform_int_distribution<char32_t>(0x00, 0x1F)(rng));
        break;
      case 2:
        text += utf8(std::uniform_int_distribution<char32_t>(0x80, 0x24F)(rng));
        break;
      case 3:
        text += utf8(std::uniform_int_distribution<char32_t>(0x4E00, 0x9FFF)(rng));
        break;
      case 4:
        text += utf8(std::uniform_int_distribution<char32_t>(0x1F300, 0x1F6FF)(rng));
        break;
      case 5:
        text += utf8(std::uniform_int_distribution<char32_t>(0x2000, 0x3000)(rng));
        break;
      default:
        text += static_cast<char>(std::uniform_int_distribution<int>(0x20, 0x7E)(rng));
    }
  }
  return text;
}

TEST_F(HfTokenizerTest, DecodeInvertsEncode) {
  // Without a normalizer the text comes back exactly (with NFC: see the next test).
  Json json = qwen_like();
  json.erase("normalizer");
  const auto tokenizer = load(json);
  for (const std::string text :
       {"the cat in the hat", "in 2024", "don't", "in\n\nthe", "in \n the", "h\xc3\xa9llo",
        "<|im_start|>user\nthe cat<|im_end|>\n", "look <image>\n", "  two leading spaces",
        "trailing space ", "\r\n\t\v\f", "<ref></ref><ref>"}) {
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << text;
  }
  std::mt19937 rng(20240611);
  for (int i = 0; i < 500; ++i) {
    const std::string text = random_text(rng);
    ASSERT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << i;
  }
  // Not UTF-8 at all: each byte still maps to a symbol and back.
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(static_cast<size_t>(i % 37), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    ASSERT_EQ(tokenizer->decode(tokenizer->encode(bytes)), bytes) << i;
  }
}

TEST_F(HfTokenizerTest, NfcNormalizesEachStretchBetweenSpecialTokens) {
  const auto tokenizer = load(qwen_like());
  // "héllo" typed decomposed (e + U+0301) is the composed one's single token.
  EXPECT_EQ(tokenizer->encode("he\xcc\x81llo"), (Ids{273}));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("he\xcc\x81llo")), "h\xc3\xa9llo");
  // ">" + U+0338 composes to U+226F, but not across a special token: "<ref>" stays one.
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("a>\xcc\xb8")), "a\xe2\x89\xaf");
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("<ref>\xcc\xb8")), "<ref>\xcc\xb8");
  EXPECT_EQ(tokenizer->encode("<ref>\xcc\xb8").front(), kRef);
  std::mt19937 rng(20240612);
  for (int i = 0; i < 300; ++i) {
    std::string text = random_text(rng);
    text += "e\xcc\x81";
    ASSERT_EQ(tokenizer->decode(tokenizer->encode(text)), nfc(text)) << i;
  }
}

TEST_F(HfTokenizerTest, DecodeRejectsIdsOutsideTheVocabulary) {
  const auto tokenizer = load(qwen_like());
  EXPECT_THROW(tokenizer->decode({kVocabSize}), InternalError);
  EXPECT_THROW(tokenizer->decode({-1}), InternalError);
  EXPECT_THROW(tokenizer->piece(100000), InternalError);
}

TEST_F(HfTokenizerTest, MissingFileIsAnIoErrorNamingIt) {
  try {
    load_hf_tokenizer("/nonexistent/qwen/tokenizer.json");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/qwen/tokenizer.json"), std::string::npos)
        << e.what();
  }
}

TEST_F(HfTokenizerTest, BadJsonIsAFormatErrorNamingTheFile) {
  const std::string path = write_text("{\"model\": {\"type\": \"BPE\", ", "broken.json");
  try {
    load_hf_tokenizer(path);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(HfTokenizerTest, StructureErrorsNameTheFileAndKey) {
  const std::string path = dir_.file("tokenizer.json");
  const auto expect_error = [&](const Json& json, const std::string& key) {
    const std::string message = format_error(json);
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << "expected " << key << " in: " << message;
  };
  Json json = qwen_like();
  json["model"]["type"] = "WordPiece";
  expect_error(json, "model.type");

  json = qwen_like();
  json["model"]["merges"][3] = "i n x";
  expect_error(json, "model.merges[3]");
  json["model"]["merges"][3] = Json::array({"i"});
  expect_error(json, "model.merges[3]");
  json["model"]["merges"][3] = "q zz";  // "zz" is not in the vocabulary
  expect_error(json, "model.merges[3]");

  json = qwen_like();
  json["model"]["vocab"]["x"] = "seven";
  expect_error(json, "model.vocab[\"x\"]");

  json = qwen_like();
  json["added_tokens"][1].erase("content");
  expect_error(json, "added_tokens[1].content");

  json = qwen_like();
  json.erase("model");
  expect_error(json, "model");

  json = qwen_like();
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  expect_error(json, "pre_tokenizer.pretokenizers[0].pattern.Regex");

  json = qwen_like();
  json["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  expect_error(json, "pre_tokenizer.pretokenizers[1].add_prefix_space");

  json = qwen_like();
  json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}};
  expect_error(json, "pre_tokenizer.type");
}

TEST_F(HfTokenizerTest, MissingByteSymbolIsAFormatErrorNamingTheByte) {
  Json json = qwen_like();
  json["model"]["vocab"].erase("z");  // byte 0x7A
  const auto tokenizer = load(json);
  EXPECT_EQ(tokenizer->encode("the"), (Ids{116, 257}));
  try {
    tokenizer->encode("zebra");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("0x7A"), std::string::npos) << e.what();
  }
}

TEST_F(HfTokenizerTest, LoadTokenizerPicksByFileNameOrFolder) {
  const std::string path = write(qwen_like());
  EXPECT_EQ(load_tokenizer(path)->encode("the cat"), (Ids{116, 257, 267}));
  EXPECT_EQ(load_tokenizer(dir_.path())->encode("the cat"), (Ids{116, 257, 267}));  // the folder
  // Other names go to SentencePiece; a missing file is an IoError naming it.
  try {
    load_tokenizer("/nonexistent/tokenizer.model");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.model"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("demo"), std::string::npos) << e.what();
  }
  // A folder with neither file: both names and the folder in the message.
  vlm::testing::TempDir empty;
  try {
    load_tokenizer(empty.path());
    FAIL() << "no error";
  } catch (const IoError& e) {
    const std::string message = e.what();
    for (const std::string& part :
         {empty.path(), std::string("tokenizer.json"), std::string("tokenizer.model")}) {
      EXPECT_NE(message.find(part), std::string::npos) << message;
    }
  }
}

// ----- SentencePiece converted to BPE, shaped like LLaMA-2's tokenizer.json --------------------
// Vocabulary: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3-258, then the characters
//   "▁" 259, "t" 260, "h" 261, "e" 262, "c" 263, "a" 264, "é" 265
// and one token per merge (kSpMerges: rank r makes id 266 + r). "▁" is "\xe2\x96\x81".
#define SP "\xe2\x96\x81"
const std::vector<std::pair<std::string, std::string>> kSpMerges = {
    {SP, "t"},       // 0 -> 266 "▁t"
    {"h", "e"},      // 1 -> 267 "he"
    {SP "t", "he"},  // 2 -> 268 "▁the"
    {SP, "c"},       // 3 -> 269 "▁c"
    {"a", "t"},      // 4 -> 270 "at"
    {SP "c", "at"},  // 5 -> 271 "▁cat"
    {SP, SP},        // 6 -> 272 "▁▁"
};
constexpr int32_t kSpSpace = 259, kSpThe = 268, kSpCat = 271, kSpTwoSpaces = 272;
int32_t sp_byte(int byte) { return 3 + byte; }

Json llama_like() {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    vocab[name] = sp_byte(byte);
  }
  int32_t id = 259;
  for (const char* piece : {SP, "t", "h", "e", "c", "a", "\xc3\xa9"}) vocab[piece] = id++;
  Json merges = Json::array();
  for (const auto& [left, right] : kSpMerges) {
    vocab[left + right] = id++;
    merges.push_back(left + " " + right);
  }
  Json added = Json::array();
  for (int32_t special = 0; special < 3; ++special) {
    added.push_back({{"id", special},
                     {"content", special == 0   ? "<unk>"
                                 : special == 1 ? "<s>"
                                                : "</s>"},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         Json::array({{{"type", "Prepend"}, {"prepend", SP}},
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", SP}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", Json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         Json::array({{{"type", "Replace"}, {"pattern", {{"String", SP}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}}};
}

TEST_F(HfTokenizerTest, SentencePieceStyleMergesTheWholeTextWithMetaspaces) {
  const auto tokenizer = load(llama_like());
  // "the cat" -> "▁the▁cat", one word: [▁ t h e ▁ c a t]; by rank: (▁,t) 0, (h,e) 1, (▁t,he) 2,
  // (▁,c) 3, (a,t) 4, (▁c,at) 5.
  EXPECT_EQ(tokenizer->encode("the cat"), (Ids{kSpThe, kSpCat}));
  // Two spaces: "▁▁the" -> (▁,t) 0 beats (▁,▁) 6 -> [▁ ▁the].
  EXPECT_EQ(tokenizer->encode(" the"), (Ids{kSpSpace, kSpThe}));
  EXPECT_EQ(tokenizer->encode("  "), (Ids{kSpTwoSpaces, kSpSpace}));
  // Characters outside the vocabulary fall back to their UTF-8 bytes.
  EXPECT_EQ(tokenizer->encode("x"), (Ids{kSpSpace, sp_byte('x')}));
  EXPECT_EQ(tokenizer->encode("\xe4\xb8\xad"),
            (Ids{kSpSpace, sp_byte(0xE4), sp_byte(0xB8), sp_byte(0xAD)}));
  EXPECT_EQ(tokenizer->encode("\xc3\xa9"), (Ids{kSpSpace, 265}));  // "é" is a piece
  // Each stretch between special tokens gets its "▁", as Hugging Face does.
  EXPECT_EQ(tokenizer->encode("<s>the</s>cat"), (Ids{1, kSpThe, 2, kSpCat}));
  EXPECT_EQ(tokenizer->encode("</s>"), (Ids{2}));
  EXPECT_EQ(tokenizer->encode(""), (Ids{}));
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_EQ(tokenizer->pad_id(), 2);
  EXPECT_EQ(tokenizer->vocab_size(), 273);
  EXPECT_EQ(tokenizer->piece(kSpThe), SP "the");
}

TEST_F(HfTokenizerTest, SentencePieceStyleDecodeInvertsEncode) {
  const auto tokenizer = load(llama_like(), {"<auto_image>"});
  EXPECT_EQ(tokenizer->special_id("<auto_image>"), 273);
  for (const std::string text :
       {"the cat", " the", "  ", "x", "\xe4\xb8\xad\xe6\x96\x87 cat", "<s>the</s>cat",
        "a<auto_image>b", "<image> the", "trailing ", "\xff\xfe bad bytes \xc3", "\n\t"}) {
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << text;
  }
  // A "▁" typed in the text is a space to this model: it comes back as one.
  EXPECT_EQ(tokenizer->encode(SP "the"), tokenizer->encode(" the"));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("a" SP "b")), "a b");
  std::mt19937 rng(20240613);
  for (int i = 0; i < 300; ++i) {
    const std::string text = random_text(rng);
    ASSERT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << i;
  }
}

TEST_F(HfTokenizerTest, SentencePieceStyleStructureErrorsNameTheKey) {
  const std::string path = dir_.file("tokenizer.json");
  const auto expect_error = [&](const Json& json, const std::string& key) {
    const std::string message = format_error(json);
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << "expected " << key << " in: " << message;
  };
  Json json = llama_like();
  json["model"]["byte_fallback"] = false;
  expect_error(json, "model.byte_fallback");
  json = llama_like();
  json["model"]["vocab"].erase("<0x41>");
  expect_error(json, "<0x41>");
  json = llama_like();
  json["normalizer"]["normalizers"][0]["prepend"] = "_";
  expect_error(json, "normalizer.normalizers[0].prepend");
  json = llama_like();
  json["normalizer"] = nullptr;
  expect_error(json, "normalizer");
  json = llama_like();
  json["decoder"]["decoders"][3]["start"] = 0;
  expect_error(json, "decoder.decoders[3].start");
  json = llama_like();
  json["decoder"]["decoders"].erase(2);
  expect_error(json, "decoder.decoders");
  json = llama_like();
  json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", SP}, {"prepend_scheme", "first"}};
  expect_error(json, "pre_tokenizer.type");
  json = llama_like();
  json["added_tokens"][1]["lstrip"] = true;
  expect_error(json, "added_tokens[1].lstrip");
  json = llama_like();
  json["added_tokens"][2]["normalized"] = true;
  expect_error(json, "added_tokens[2].normalized");
}

TEST_F(HfTokenizerTest, AnEmptyVocabularyEntryDoesNotBreakLoading) {
  for (Json json : {qwen_like(), llama_like()}) {
    json["model"]["vocab"][""] = 400;  // matches no text
    const auto tokenizer = load(json);
    EXPECT_EQ(tokenizer->vocab_size(), 401);
    EXPECT_EQ(tokenizer->decode(tokenizer->encode("the cat")), "the cat");
  }
}
#undef SP

}  // namespace
}  // namespace vlm::data
