// Where each value of a recipe came from. Validation runs on the typed recipe after parsing; this
// record lets it still name the file, the line and the key as the user wrote them.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vlm::recipes {

struct Origin {
  std::string where;  // "recipes/x.yaml:12", "recipes/x.yaml" or "--set optimizer.lr=-1"
  std::string path;   // the key as written there: "optimizer.lr" for a value a stage inherits
};

class Origins {
 public:
  explicit Origins(std::string source) : source_(std::move(source)) {}

  const std::string& source() const { return source_; }
  // Whether the recipe lists its stages (else its one stage is the top level itself).
  void set_explicit_stages(bool explicit_stages) { explicit_stages_ = explicit_stages; }
  bool explicit_stages() const { return explicit_stages_; }
  void record(const std::string& path, const std::string& where) { where_[path] = where; }
  // Whether the user wrote exactly this key (no inheritance).
  bool records(const std::string& path) const { return find(path) != nullptr; }

  // The origin of a value of the resolved recipe such as "stages[1].optimizer.lr": the stage's own
  // key if it set one, else the top-level key it inherited, else (a default) the stage itself.
  Origin of(const std::string& resolved_path) const;

  // Whether the user wrote the value (in the file or with --set), rather than it being a default.
  bool written(const std::string& resolved_path) const;

  // Throws ConfigError "<where>: <path as written> <complaint>".
  [[noreturn]] void fail(const std::string& resolved_path, const std::string& complaint) const;
  // For a rule that ties several values together: throws ConfigError "<where>: <statement>",
  // located at the first of the paths that the user wrote.
  [[noreturn]] void fail_about(const std::vector<std::string>& resolved_paths,
                               const std::string& statement) const;

 private:
  const std::string* find(const std::string& path) const;

  std::string source_;
  bool explicit_stages_ = false;
  std::map<std::string, std::string> where_;  // key path as written -> where
};

}  // namespace vlm::recipes
