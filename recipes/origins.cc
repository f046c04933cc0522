#include "recipes/origins.h"

#include "common/error.h"

namespace vlm::recipes {

const std::string* Origins::find(const std::string& path) const {
  const auto found = where_.find(path);
  return found == where_.end() ? nullptr : &found->second;
}

Origin Origins::of(const std::string& resolved_path) const {
  if (const std::string* where = find(resolved_path)) return {*where, resolved_path};
  const std::string stage_prefix = "stages[";
  const size_t stage_end = resolved_path.find("].");
  if (resolved_path.compare(0, stage_prefix.size(), stage_prefix) != 0 ||
      stage_end == std::string::npos) {
    return {source_, resolved_path};
  }
  const std::string inherited = resolved_path.substr(stage_end + 2);
  if (const std::string* where = find(inherited)) return {*where, inherited};
  if (!explicit_stages_) return {source_, inherited};
  const std::string* stage_where = find(resolved_path.substr(0, stage_end + 1));
  return {stage_where ? *stage_where : source_, resolved_path};
}

bool Origins::written(const std::string& resolved_path) const {
  const Origin origin = of(resolved_path);
  return find(origin.path) != nullptr;
}

void Origins::fail(const std::string& resolved_path, const std::string& complaint) const {
  const Origin origin = of(resolved_path);
  VLM_THROW(ConfigError, origin.where, ": ", origin.path, " ", complaint);
}

void Origins::fail_about(const std::vector<std::string>& resolved_paths,
                         const std::string& statement) const {
  std::string where = of(resolved_paths.at(0)).where;
  for (const std::string& path : resolved_paths) {
    if (written(path)) {
      where = of(path).where;
      break;
    }
  }
  VLM_THROW(ConfigError, where, ": ", statement);
}

}  // namespace vlm::recipes
