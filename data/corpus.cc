// Corpus readers: LLaVA's JSON array (558K, 665K schema) and VoRA-style JSON Lines.
#include "data/corpus.h"

#include <nlohmann/json.hpp>
#include "common/bounded_json.h"

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "data/record_stream.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;

constexpr char kMissingHint[] = "run scripts/demo.sh or vlm-synth --out <dir> to make a corpus";

// Ids are strings in LLaVA's files, but some records carry numbers.
std::string read_id(const Json& record) {
  const auto id = record.find("id");
  if (id == record.end() || id->is_null()) return {};
  if (id->is_string()) return id->get<std::string>();
  if (id->is_number_integer()) return std::to_string(id->get<int64_t>());
  throw std::invalid_argument("\"id\" must be a string or an integer");
}

// "image": "a.jpg" or ["a.jpg", ...]; "frames": [...] (VoRA). Absent, null or empty: text-only.
std::vector<std::string> read_images(const Json& record) {
  std::vector<std::string> images;
  for (const char* key : {"image", "frames"}) {
    const auto field = record.find(key);
    if (field == record.end() || field->is_null()) continue;
    if (field->is_string()) {
      images.push_back(field->get<std::string>());
    } else if (field->is_array()) {
      for (const auto& path : *field) {
        if (!path.is_string())
          throw std::invalid_argument(std::string("\"") + key + "\" must hold strings");
        images.push_back(path.get<std::string>());
      }
    } else {
      throw std::invalid_argument(std::string("\"") + key + "\" must be a string or a list");
    }
  }
  return images;
}

std::vector<Turn> read_turns(const Json& record) {
  const auto field = record.find("conversations");
  if (field == record.end() || !field->is_array()) {
    throw std::invalid_argument("\"conversations\" must be a list");
  }
  std::vector<Turn> turns;
  for (const auto& turn : *field) {
    if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") ||
        !turn["from"].is_string() || !turn["value"].is_string()) {
      throw std::invalid_argument("turn " + std::to_string(turns.size()) +
                                  " must be {\"from\": string, \"value\": string}");
    }
    turns.push_back({turn["from"].get<std::string>(), turn["value"].get<std::string>()});
  }
  return turns;
}

// One record; std::invalid_argument for a schema problem (the caller adds file and position).
Conversation read_record(const Json& record) {
  if (!record.is_object()) throw std::invalid_argument("a record must be a JSON object");
  Conversation conversation;
  conversation.id = read_id(record);
  conversation.images = read_images(record);
  conversation.turns = read_turns(record);
  const auto category = record.find("category");
  if (category != record.end() && !category->is_null()) {
    if (!category->is_string()) throw std::invalid_argument("\"category\" must be a string");
    conversation.category = category->get<std::string>();
  }
  return conversation;
}

size_t line_of(const std::string& text, size_t byte) {
  const auto end = text.begin() + static_cast<std::ptrdiff_t>(std::min(byte, text.size()));
  return 1 + static_cast<size_t>(std::count(text.begin(), end, '\n'));
}

std::vector<Conversation> read_json_array(const std::string& path, const std::string& text) {
  Json array;
  try {
    array = Json::parse(text, json_depth_limit<Json>(path));
  } catch (const Json::parse_error& e) {
    VLM_THROW(FormatError, path, ":", line_of(text, e.byte), ": invalid JSON: ", e.what());
  }
  VLM_CHECK(array.is_array(), FormatError, path, ": expected a JSON array of records");
  std::vector<Conversation> corpus;
  corpus.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    try {
      corpus.push_back(read_record(array[i]));
    } catch (const std::exception& e) {
      VLM_THROW(FormatError, path, ": record ", i, ": ", e.what());
    }
  }
  return corpus;
}

std::vector<Conversation> read_json_lines(const std::string& path, const std::string& text) {
  std::vector<Conversation> corpus;
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, end - start);
    ++line_number;
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      corpus.push_back(parse_record_document(line));
    } catch (const std::exception& e) {
      VLM_THROW(FormatError, path, ":", line_number, ": ", e.what());
    }
  }
  return corpus;
}

}  // namespace

Conversation parse_record_document(std::string_view json) {
  try {
    // One level less than a JSON array's bound: a line is a record, an array's records sit one
    // level down, and parse_record (vlm-shard) bounds a record alike in both formats.
    return read_record(Json::parse(json, json_depth_limit<Json>("record", kMaxJsonDepth - 1)));
  } catch (const Json::exception& e) {
    VLM_THROW(FormatError, "invalid JSON: ", std::string(e.what()).substr(0, 300));
  } catch (const std::invalid_argument& e) {
    VLM_THROW(FormatError, e.what());
  }
}

void check_corpus_exists(const std::string& path) {
  VLM_CHECK(files::exists(path), IoError, "corpus file ", path, " not found (", kMissingHint, ")");
}

std::vector<Conversation> read_corpus(const std::string& path) {
  check_corpus_exists(path);
  const std::string text = files::read_all(path);
  return corpus_format_of(path) == CorpusFormat::kJsonLines ? read_json_lines(path, text)
                                                            : read_json_array(path, text);
}

}  // namespace vlm::data
