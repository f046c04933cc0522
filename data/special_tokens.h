// The strings a tokenizer matches in the raw text before its model sees any of it ("<s>",
// "<|im_end|>", "<image>", added tokens), shared by the SentencePiece plugin and the
// tokenizer.json reader so that both treat them alike.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vlm::data {

struct SpecialToken {
  std::string text;
  int32_t id;
};

class SpecialTokens {
 public:
  // A token matched in text. A text added again keeps its first id.
  void add(const std::string& text, int32_t id);
  // An id that decodes to `text` without `text` being matched to it (a file's own "<image>"
  // entry: the text "<image>" always means the image slot).
  void add_decoding(const std::string& text, int32_t id);

  // Splits text at the tokens, leftmost first and the longest of those starting at one place:
  // on_text gets each non-empty stretch between them, on_token each token, in text order.
  void scan(std::string_view text, const std::function<void(std::string_view)>& on_text,
            const std::function<void(const SpecialToken&)>& on_token) const;

  std::optional<int32_t> id(const std::string& text) const;
  const std::string* text(int32_t id) const;  // nullptr: not a special id

 private:
  const SpecialToken* match_at(std::string_view text, size_t pos) const;

  std::vector<SpecialToken> longest_first_;
  std::unordered_map<std::string, int32_t> id_of_;
  std::unordered_map<int32_t, std::string> text_of_;
  std::array<bool, 256> first_byte_{};  // whether some token starts with this byte
};

// Gives the caller's added tokens their ids: one the file already defines (`defined` returns its
// id) keeps it; each other one gets the next id from `next_id` on, in the order given. Each is
// then matched in text. "<image>" is refused (ConfigError): it is the image placeholder
// (kImageToken) and never takes a vocabulary id; so is an empty string. Returns how many new ids
// were given.
int64_t add_requested_tokens(
    const std::vector<std::string>& requested,
    const std::function<std::optional<int32_t>(const std::string&)>& defined, int64_t next_id,
    SpecialTokens& specials);

}  // namespace vlm::data
