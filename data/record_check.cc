#include "data/record_check.h"

#include "common/error.h"
#include "data/corpus.h"

namespace vlm::data {
namespace {

bool is_word_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

RecordCheck skipped(RecordCheck check, SkipReason reason, std::string detail) {
  check.skip = reason;
  check.detail = std::move(detail);
  return check;
}

// The turn order and placeholder rules of check_record().
RecordCheck check_turns(RecordCheck check, const Conversation& conversation) {
  const auto& turns = conversation.turns;
  size_t i = 0;
  if (i < turns.size() && turns[i].from == "system") ++i;
  if (i == turns.size()) {
    return skipped(std::move(check), SkipReason::kEmptyConversation, "no turns");
  }
  if (turns[i].from == "gpt") ++i;
  if (i == turns.size()) {
    return skipped(std::move(check), SkipReason::kBadTurnOrder, "no human/gpt round");
  }
  int placeholders = 0;
  for (; i < turns.size(); i += 2) {
    if (turns[i].from != "human") {
      return skipped(std::move(check), SkipReason::kBadTurnOrder,
                     "turn " + std::to_string(i) + " is from '" + turns[i].from +
                         "' where a human turn was expected");
    }
    if (i + 1 == turns.size()) {
      return skipped(std::move(check), SkipReason::kBadTurnOrder,
                     "the last question has no answer");
    }
    if (turns[i + 1].from != "gpt") {
      return skipped(std::move(check), SkipReason::kBadTurnOrder,
                     "turn " + std::to_string(i + 1) + " is from '" + turns[i + 1].from +
                         "' where a gpt turn was expected");
    }
    if (count_image_placeholders(turns[i + 1].value) > 0) {
      return skipped(std::move(check), SkipReason::kPlaceholderMismatch,
                     "an answer contains <image>");
    }
    placeholders += count_image_placeholders(turns[i].value);
  }
  if (placeholders != static_cast<int>(conversation.images.size()) &&
      !image_placeholder_implied(placeholders, conversation.images.size())) {
    return skipped(std::move(check), SkipReason::kPlaceholderMismatch,
                   std::to_string(placeholders) + " <image> placeholder(s) for " +
                       std::to_string(conversation.images.size()) + " image(s)");
  }
  return check;
}

// The id of a record that does not parse, when its text still shows one ("id": "..." or a
// number), so the skip list can name it.
std::string salvage_id(std::string_view json) {
  const size_t key = json.find("\"id\"");
  if (key == std::string_view::npos) return {};
  size_t pos = json.find_first_not_of(" \t\r\n", key + 4);
  if (pos == std::string_view::npos || json[pos] != ':') return {};
  pos = json.find_first_not_of(" \t\r\n", pos + 1);
  if (pos == std::string_view::npos) return {};
  if (json[pos] == '"') {
    const size_t end = json.find_first_of("\"\\", pos + 1);
    if (end == std::string_view::npos || json[end] != '"') return {};
    return std::string(json.substr(pos + 1, end - pos - 1));
  }
  const size_t end = json.find_first_not_of("0123456789-", pos);
  return std::string(json.substr(pos, (end == std::string_view::npos ? json.size() : end) - pos));
}

}  // namespace

int64_t count_words(std::string_view text) {
  int64_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = is_word_space(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

RecordCheck check_record(std::string_view json) {
  RecordCheck check;
  Conversation conversation;
  try {
    conversation = parse_record(json);
  } catch (const FormatError& e) {
    check.id = salvage_id(json);
    return skipped(std::move(check), SkipReason::kMalformedJson, e.what());
  }
  check.id = conversation.id;
  for (const Turn& turn : conversation.turns) check.text_length += count_words(turn.value);
  if (conversation.turns.empty()) {
    return skipped(std::move(check), SkipReason::kEmptyConversation, "no turns");
  }
  check = check_turns(std::move(check), conversation);
  check.image_paths = std::move(conversation.images);
  return check;
}

std::optional<SkipReason> load_images(const ImageRoot& root, const std::vector<std::string>& paths,
                                      std::vector<EncodedImage>& images, std::string& detail) {
  images.clear();
  std::string error;
  for (const std::string& path : paths) {
    EncodedImage image;
    switch (root.read(path, image.bytes, error)) {
      case ImageRoot::Status::kOutsideRoot:
        detail = path + ": " + error;
        return SkipReason::kImageOutsideRoot;
      case ImageRoot::Status::kUnreadable:
        detail = path + ": " + error;
        return SkipReason::kMissingImage;
      case ImageRoot::Status::kTooLarge:
        detail = path + ": " + error;
        return SkipReason::kOversizedImage;
      case ImageRoot::Status::kOk:
        break;
    }
    if (!read_image_header(image.bytes, image.width, image.height)) {
      detail = path + ": not a JPEG or PNG with valid dimensions";
      return SkipReason::kUndecodableImage;
    }
    error = pixel_cap_error(image.width, image.height, root.limits());
    if (!error.empty()) {
      detail = path + ": " + error;
      return SkipReason::kOversizedImage;
    }
    images.push_back(std::move(image));
  }
  return std::nullopt;
}

}  // namespace vlm::data
