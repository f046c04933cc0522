// Special tokens matched in the raw text: see data/special_tokens.h.
#include "data/special_tokens.h"

#include <algorithm>

#include "common/error.h"

namespace vlm::data {

void SpecialTokens::add(const std::string& text, int32_t id) {
  if (text.empty() || !id_of_.emplace(text, id).second) return;
  text_of_.emplace(id, text);
  // Longest first, so that a token which is a prefix of another cannot shadow it.
  const auto place =
      std::find_if(longest_first_.begin(), longest_first_.end(),
                   [&](const SpecialToken& t) { return t.text.size() < text.size(); });
  longest_first_.insert(place, {text, id});
  first_byte_[static_cast<unsigned char>(text[0])] = true;
}

void SpecialTokens::add_decoding(const std::string& text, int32_t id) {
  text_of_.emplace(id, text);
}

const SpecialToken* SpecialTokens::match_at(std::string_view text, size_t pos) const {
  if (!first_byte_[static_cast<unsigned char>(text[pos])]) return nullptr;
  for (const SpecialToken& token : longest_first_) {
    if (text.compare(pos, token.text.size(), token.text) == 0) return &token;
  }
  return nullptr;
}

void SpecialTokens::scan(std::string_view text,
                         const std::function<void(std::string_view)>& on_text,
                         const std::function<void(const SpecialToken&)>& on_token) const {
  size_t run_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const SpecialToken* token = match_at(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    if (pos > run_start) on_text(text.substr(run_start, pos - run_start));
    on_token(*token);
    pos = run_start = pos + token->text.size();
  }
  if (run_start < text.size()) on_text(text.substr(run_start));
}

std::optional<int32_t> SpecialTokens::id(const std::string& text) const {
  const auto found = id_of_.find(text);
  if (found == id_of_.end()) return std::nullopt;
  return found->second;
}

const std::string* SpecialTokens::text(int32_t id) const {
  const auto found = text_of_.find(id);
  return found == text_of_.end() ? nullptr : &found->second;
}

int64_t add_requested_tokens(
    const std::vector<std::string>& requested,
    const std::function<std::optional<int32_t>(const std::string&)>& defined, int64_t next_id,
    SpecialTokens& specials) {
  int64_t appended = 0;
  for (const std::string& token : requested) {
    VLM_CHECK(!token.empty(), ConfigError, "an added token must not be empty");
    VLM_CHECK(token != "<image>", ConfigError,
              "<image> cannot be an added token: it is the image placeholder, which takes no "
              "vocabulary id");
    if (specials.id(token)) continue;  // the file's own, or requested twice
    if (const auto id = defined(token)) {
      specials.add(token, *id);
      continue;
    }
    specials.add(token, static_cast<int32_t>(next_id + appended));
    ++appended;
  }
  return appended;
}

}  // namespace vlm::data
