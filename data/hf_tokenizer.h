// The byte-level BPE of a Hugging Face tokenizer.json (GPT-2, Qwen2/Qwen2.5, Llama 3 style) behind
// the Tokenizer interface.
//
// What is read: model (type "BPE", vocab, merges as "a b" strings or [a, b] pairs, ignore_merges),
// added_tokens, pre_tokenizer (ByteLevel, whose use_regex means GPT-2's regex, alone or last in a
// Sequence after Splits with Qwen2's or cl100k/Llama 3's regex), normalizer (none or NFC) and
// post_processor (only to find a BOS the template prepends). Added tokens' lstrip, rstrip and
// single_word are ignored (all false in Qwen2's). Anything else a file asks for (another model
// type, another regex, add_prefix_space, a continuing_subword_prefix, ...) is a FormatError naming
// the file and the key, rather than a tokenization that silently differs from the model's.
//
// Encoding: added tokens are matched in the raw text first (leftmost, then longest); "<image>"
// becomes kImageToken and "<auto_image>" an id of its own, as in load_sentencepiece. The text
// between them is split by the regex, each piece's bytes are mapped to GPT-2's byte symbols and
// merged by rank (lowest first). There is no dummy prefix: text is encoded as it is, so
// encode(a) + encode(b) == encode(a + b) when a ends and b starts at a pre-token boundary (e.g.
// when b starts with an added token), and decode(encode(x)) == x for any x.
//
// Special ids: eos_id() is "<|im_end|>" (the end of a Qwen chat turn) when the file has it, else
// "<|endoftext|>", else "</s>" (none of them: FormatError); pad_id() is "<|endoftext|>", else EOS;
// bos_id() is the token the post_processor's template starts with, else "<s>" or
// "<|begin_of_text|>", else -1 (Qwen2 has no BOS). vocab_size() is the largest id + 1, plus
// "<auto_image>" when the file lacks it.
//
// Approximations, so that no Unicode tables are needed:
// - \p{L} and \p{N} are exact for ASCII. Beyond ASCII, \p{L} is the letters of Latin-1, Latin
//   Extended-A/B and Additional, IPA, Greek, Cyrillic, Hebrew, Arabic, Hiragana, Katakana, CJK
//   ideographs, Hangul and the fullwidth forms; \p{N} is the Latin-1 superscripts and fractions,
//   Arabic-Indic and Devanagari digits, super/subscript digits, Roman numerals and fractions,
//   circled numbers and fullwidth digits. Other scripts' letters (e.g. Thai, Devanagari) and all
//   combining marks count as punctuation. That only moves pre-token boundaries: ids may then
//   differ from HF's for such text, and decode(encode(x)) == x still holds.
//   \s is Unicode's White_Space, exactly.
// - The NFC normalizer is not applied: text is expected to be NFC already (it is, nearly always).
// - Invalid UTF-8 bytes are kept, each one a character of its own class (punctuation), so they
//   round-trip.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace vlm::data {

// A missing file is an IoError; malformed JSON or an unsupported structure a FormatError naming
// the file and the key (e.g. "model.merges[3]").
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path);

// The pre-tokens of Qwen2's Split regex (digits one by one), exposed for tests:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
std::vector<std::string> qwen2_pretokens(const std::string& text);

// Appends a code point as UTF-8 (1-4 bytes).
void append_utf8(char32_t code, std::string& out);

}  // namespace vlm::data
