#include "models/json_file.h"

#include "common/bounded_json.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::models {

nlohmann::json read_json_file(const std::string& path) {
  return parse_bounded_json<nlohmann::json>(files::read_all(path), path);
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  files::write_atomically(path, value.dump(2) + "\n");
}

}  // namespace vlm::models
