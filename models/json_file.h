// JSON files with typed errors (internal to models/).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vlm::models {

// IoError when unreadable, FormatError (naming the file) when not JSON.
nlohmann::json read_json_file(const std::string& path);
// Written atomically, indented for people.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace vlm::models
