#include "recipes/overrides.h"

#include "common/error.h"
#include "common/text.h"

namespace vlm::recipes {
namespace {

// "stages[1]" -> "stages", "1"; "a" -> "a". Returns false on unbalanced brackets.
bool split_indices(const std::string& part, std::vector<std::string>& keys) {
  const size_t open = part.find('[');
  if (open == std::string::npos) {
    if (part.find(']') != std::string::npos) return false;
    keys.push_back(part);
    return true;
  }
  if (open > 0) keys.push_back(part.substr(0, open));
  size_t at = open;
  while (at < part.size()) {
    if (part[at] != '[') return false;
    const size_t close = part.find(']', at);
    if (close == std::string::npos || close == at + 1) return false;
    keys.push_back(part.substr(at + 1, close - at - 1));
    at = close + 1;
  }
  return true;
}

}  // namespace

Override parse_override(const std::string& text) {
  const std::string where = "--set " + text;
  const size_t equals = text.find('=');
  VLM_CHECK(equals != std::string::npos, ConfigError, where,
            ": expected key=value, e.g. --set optimizer.lr=2e-5");
  Override parsed;
  parsed.text = text;
  parsed.value = text.substr(equals + 1);
  const std::string path(trim(text.substr(0, equals)));
  VLM_CHECK(!path.empty(), ConfigError, where, ": the key before '=' is empty");
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    VLM_CHECK(!part.empty() && split_indices(part, parsed.keys), ConfigError, where,
              ": malformed key '", path, "' (expected names joined by dots, e.g. stages.1.lr)");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parsed;
}

}  // namespace vlm::recipes
