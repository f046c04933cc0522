#include "tests/support/record_reference.h"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/bounded_json.h"
#include "common/error.h"

namespace vlm::testing {
namespace {

using Json = nlohmann::json;

std::string id_of(const Json& record) {
  const auto id = record.find("id");
  if (id == record.end() || id->is_null()) return {};
  if (id->is_string()) return id->get<std::string>();
  if (id->is_number_integer()) return std::to_string(id->get<int64_t>());
  throw std::invalid_argument("\"id\" must be a string or an integer");
}

std::vector<std::string> images_of(const Json& record) {
  std::vector<std::string> images;
  for (const char* key : {"image", "frames"}) {
    const auto field = record.find(key);
    if (field == record.end() || field->is_null()) continue;
    if (field->is_string()) {
      images.push_back(field->get<std::string>());
      continue;
    }
    if (!field->is_array()) {
      throw std::invalid_argument(std::string("\"") + key + "\" must be a string or a list");
    }
    for (const auto& path : *field) {
      if (!path.is_string()) {
        throw std::invalid_argument(std::string("\"") + key + "\" must hold strings");
      }
      images.push_back(path.get<std::string>());
    }
  }
  return images;
}

std::vector<data::Turn> turns_of(const Json& record) {
  const auto field = record.find("conversations");
  if (field == record.end() || !field->is_array()) {
    throw std::invalid_argument("\"conversations\" must be a list");
  }
  std::vector<data::Turn> turns;
  for (const auto& turn : *field) {
    const bool well_formed = turn.is_object() && turn.contains("from") && turn.contains("value") &&
                             turn["from"].is_string() && turn["value"].is_string();
    if (!well_formed) {
      throw std::invalid_argument("turn " + std::to_string(turns.size()) +
                                  " must be {\"from\": string, \"value\": string}");
    }
    turns.push_back({turn["from"].get<std::string>(), turn["value"].get<std::string>()});
  }
  return turns;
}

data::Conversation conversation_of(const Json& record) {
  if (!record.is_object()) throw std::invalid_argument("a record must be a JSON object");
  data::Conversation conversation;
  conversation.id = id_of(record);
  conversation.images = images_of(record);
  conversation.turns = turns_of(record);
  const auto category = record.find("category");
  if (category != record.end() && !category->is_null()) {
    if (!category->is_string()) throw std::invalid_argument("\"category\" must be a string");
    conversation.category = category->get<std::string>();
  }
  return conversation;
}

}  // namespace

data::Conversation reference_record(std::string_view json) {
  try {
    // One level less than kMaxJsonDepth: the bound counts a JSON array around the record.
    return conversation_of(Json::parse(json, json_depth_limit<Json>("record", kMaxJsonDepth - 1)));
  } catch (const Json::exception& e) {
    VLM_THROW(FormatError, "invalid JSON: ", std::string(e.what()).substr(0, 300));
  } catch (const std::invalid_argument& e) {
    VLM_THROW(FormatError, e.what());
  }
}

}  // namespace vlm::testing
