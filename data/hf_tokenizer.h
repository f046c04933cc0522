// A Hugging Face tokenizer.json behind the Tokenizer interface, giving the ids Hugging Face's
// tokenizers give. Two kinds of BPE file (data/hf_tokenizer_spec.h has exactly what is read):
// - byte-level BPE (GPT-2, Qwen2/Qwen2.5/Qwen3, Llama 3): the text is NFC-normalized when the file
//   says so, split by the pre-tokenizer's regexes (data/pretokenize.h: Oniguruma's \p{L}, \p{N}
//   and \s, from ICU), each piece's bytes mapped to GPT-2's byte symbols and merged by rank;
// - SentencePiece converted to BPE (LLaMA-2, Vicuna): spaces become "▁" and a "▁" goes before the
//   text, which is merged as one word, character by character; a character outside the
//   vocabulary becomes its UTF-8 bytes as "<0xXX>" tokens.
//
// Encoding: the file's added tokens (and the caller's, see load_tokenizer) are matched in the raw
// text first, leftmost and then longest, as Hugging Face does; the text between them goes
// through the normalizer and the model on its own. So a SentencePiece-style file puts its "▁"
// before every such stretch ("<s>Hi" -> <s>, "▁Hi"), and an NFC normalizer never composes across
// a special token. "<image>" is always kImageToken, even when the file has a token of that name.
//
// Decoding inverts encoding: decode(encode(x)) == x, except where the model's own normalizer
// changes x: NFC (a decomposed "é" comes back composed) and, for SentencePiece-style files, a
// "▁" typed in the text (it comes back as a space). Ill-formed UTF-8 in the text round-trips
// (byte-level: each byte has its symbol; SentencePiece-style: each byte its "<0xXX>").
//
// Special ids: eos_id() is the end of a chat turn when the file has one ("<|im_end|>" for Qwen,
// "<|eot_id|>" for Llama 3), else the end of a document ("<|endoftext|>", "<|end_of_text|>",
// "</s>"); none of them: FormatError. pad_id() is "<|endoftext|>", else EOS. bos_id() is the token
// the post_processor's template starts with, else "<s>" or "<|begin_of_text|>", else -1 (Qwen has
// no BOS).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace vlm::data {

// A missing file is an IoError; malformed JSON or an unsupported structure a FormatError naming
// the file and the key. added_tokens: as load_tokenizer (data/tokenizer.h).
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& tokenizer_json_path,
                                             const std::vector<std::string>& added_tokens = {});

}  // namespace vlm::data
