#include "models/json_file.h"

#include "common/error.h"
#include "common/files.h"

namespace vlm::models {

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = files::read_all(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    VLM_THROW(FormatError, path, " is not valid JSON: ", e.what());
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  files::write_atomically(path, value.dump(2) + "\n");
}

}  // namespace vlm::models
