#include "models/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/bounded_json.h"
#include "common/error.h"

namespace vlm::models {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr int kMaxHeaderDepth = 8;                 // a header is 3 levels deep

// Parses the header JSON, refusing deep nesting before it can cost anything.
json parse_header_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(
        text, json_depth_limit<json>("safetensors " + source + ": header", kMaxHeaderDepth));
  } catch (const json::exception& e) {
    VLM_THROW(FormatError, "safetensors ", source, ": header is not valid JSON: ", e.what());
  }
}

// Non-negative JSON integer that fits in int64 (floats, negatives and others are rejected).
bool as_count(const json& value, uint64_t* out) {
  if (!value.is_number_unsigned() && !value.is_number_integer()) return false;
  if (value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0) {
    return false;
  }
  *out = value.get<uint64_t>();
  return *out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

SafetensorsHeaderEntry parse_entry(const std::string& name, const json& value, uint64_t data_size,
                                   const std::string& source) {
  const std::string where = "safetensors " + source + ": tensor '" + name + "'";
  VLM_CHECK(value.is_object(), FormatError, where, ": entry is not a JSON object");
  SafetensorsHeaderEntry entry;
  entry.name = name;

  const auto dtype = value.find("dtype");
  VLM_CHECK(dtype != value.end() && dtype->is_string(), FormatError, where,
            ": missing or non-string \"dtype\"");
  entry.dtype = dtype->get<std::string>();
  const size_t element_bytes = safetensors_element_bytes(entry.dtype);
  VLM_CHECK(element_bytes > 0, FormatError, where, ": unsupported dtype '", entry.dtype, "'");

  const auto shape = value.find("shape");
  VLM_CHECK(shape != value.end() && shape->is_array() && shape->size() <= 16, FormatError, where,
            ": \"shape\" must be an array of at most 16 dimensions");
  uint64_t elements = 1;
  for (const json& dim : *shape) {
    uint64_t size = 0;
    VLM_CHECK(as_count(dim, &size), FormatError, where, ": shape holds ", dim.dump(),
              ", not a non-negative integer");
    VLM_CHECK(!__builtin_mul_overflow(elements, size, &elements), FormatError, where,
              ": shape's element count overflows");
    entry.shape.push_back(static_cast<int64_t>(size));
  }
  uint64_t bytes = 0;
  VLM_CHECK(!__builtin_mul_overflow(elements, element_bytes, &bytes), FormatError, where,
            ": byte size overflows");

  const auto offsets = value.find("data_offsets");
  VLM_CHECK(offsets != value.end() && offsets->is_array() && offsets->size() == 2, FormatError,
            where, ": \"data_offsets\" must be an array [begin, end]");
  VLM_CHECK(as_count((*offsets)[0], &entry.begin) && as_count((*offsets)[1], &entry.end),
            FormatError, where, ": data_offsets must be non-negative integers");
  VLM_CHECK(entry.begin <= entry.end && entry.end <= data_size, FormatError, where,
            ": data_offsets [", entry.begin, ", ", entry.end, "] lie outside the data section of ",
            data_size, " bytes");
  VLM_CHECK(entry.end - entry.begin == bytes, FormatError, where, ": data_offsets span ",
            entry.end - entry.begin, " bytes but dtype ", entry.dtype, " and shape ", shape->dump(),
            " need ", bytes);
  return entry;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& source) {
  VLM_CHECK(value.is_object(), FormatError, "safetensors ", source,
            ": __metadata__ is not a JSON object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    VLM_CHECK(item.is_string(), FormatError, "safetensors ", source, ": __metadata__ value of '",
              key, "' is not a string");
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

void check_no_overlap(const std::vector<SafetensorsHeaderEntry>& entries,
                      const std::string& source) {
  std::vector<const SafetensorsHeaderEntry*> by_offset;
  for (const auto& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  const SafetensorsHeaderEntry* previous = nullptr;
  for (const SafetensorsHeaderEntry* entry : by_offset) {
    if (entry->begin == entry->end) continue;  // empty tensors occupy no bytes
    VLM_CHECK(previous == nullptr || entry->begin >= previous->end, FormatError, "safetensors ",
              source, ": tensor '", entry->name, "' (bytes ", entry->begin, "..", entry->end,
              ") overlaps tensor '", previous->name, "' (bytes ", previous->begin, "..",
              previous->end, ")");
    previous = entry;
  }
}

}  // namespace

size_t safetensors_element_bytes(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F64" || dtype == "I64") return 8;
  return 0;
}

uint64_t safetensors_header_length(const uint8_t (&prefix)[8], uint64_t file_size,
                                   const std::string& source) {
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | prefix[i];
  VLM_CHECK(file_size >= 8 && header_length <= file_size - 8 && header_length <= kMaxHeaderBytes,
            FormatError, "safetensors ", source, ": header length ", header_length,
            " does not fit the ", file_size, "-byte file");
  return header_length;
}

SafetensorsHeader parse_safetensors_header(const std::string& header_json, uint64_t data_size,
                                           const std::string& source) {
  const json root = parse_header_json(header_json, source);
  VLM_CHECK(root.is_object(), FormatError, "safetensors ", source, ": header is not a JSON object");
  SafetensorsHeader header;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(value, source);
    } else {
      header.entries.push_back(parse_entry(name, value, data_size, source));
    }
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  check_no_overlap(header.entries, source);
  return header;
}

}  // namespace vlm::models
