// Loading: YAML text -> --set overrides applied to the tree -> typed Recipe (preset first, stages
// inheriting the top-level sections) -> validate() -> the resolved copy. yaml-cpp stays inside
// this file and dump.cc.
#include "recipes/load.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/error.h"
#include "common/files.h"
#include "recipes/origins.h"
#include "recipes/overrides.h"
#include "recipes/schema.h"
#include "recipes/validate.h"

namespace vlm::recipes {
namespace {

using schema::child_path;
using schema::index_path;

[[noreturn]] void throw_at(const std::string& where, const std::string& message) {
  VLM_THROW(ConfigError, where, ": ", message);
}

std::string located(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return source;
  return source + ":" + std::to_string(mark.line + 1);
}

bool contains(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// A value quoted in a message: one line, and short even when the file is garbage.
std::string quoted(const std::string& text) {
  constexpr size_t kMaxChars = 60;
  std::string shown;
  for (const char c : text.substr(0, kMaxChars)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      shown += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      const char* const hex = "0123456789abcdef";
      shown += std::string("\\x") + hex[byte >> 4] + hex[byte & 0xf];
    } else {
      shown += c;
    }
  }
  if (text.size() > kMaxChars) shown += "...";
  return "'" + shown + "'";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// Numbers as YAML writes them: from_chars, plus YAML's optional leading '+'.
template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  Number value{};
  const char* const end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return false;
  out = value;
  return true;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// " (did you mean 'lr'?)" for a near miss, else the keys that would be accepted.
std::string suggestion(const std::string& key, const std::vector<std::string>& known) {
  const size_t tolerance = 1 + key.size() / 4;
  const std::string* best = nullptr;
  size_t best_distance = tolerance + 1;
  for (const std::string& candidate : known) {
    const size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  if (best != nullptr) return " (did you mean '" + *best + "'?)";
  return " (known keys: " + schema::join(known) + ")";
}

// Which parts of the tree --set wrote, so that messages name the override, not a line.
class OverrideLog {
 public:
  void record(const std::string& path, const std::string& where) {
    // An override of a whole section replaces what earlier ones set inside it.
    for (auto it = where_.begin(); it != where_.end();) {
      it = is_inside(it->first, path) ? where_.erase(it) : std::next(it);
    }
    where_[path] = where;
  }

  // Each overridden path (as messages print it) and its "--set ..." text.
  const std::map<std::string, std::string>& paths() const { return where_; }

  // The override that wrote `path` or one of its parents, if any.
  const std::string* find(std::string path) const {
    while (true) {
      const auto found = where_.find(path);
      if (found != where_.end()) return &found->second;
      const size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos) return nullptr;
      path.resize(cut);
    }
  }

 private:
  static bool is_inside(const std::string& inner, const std::string& outer) {
    return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
           (inner[outer.size()] == '.' || inner[outer.size()] == '[');
  }

  std::map<std::string, std::string> where_;
};

// The data section's other sample source key, for one of them; "" for any other key.
std::string other_source(const std::string& key) {
  const auto& keys = schema::kDataSourceKeys;
  if (!contains(keys, key)) return "";
  return key == keys[0] ? keys[1] : keys[0];
}

bool names_something(const YAML::Node& value) {
  return !value.IsNull() && !(value.IsScalar() && value.Scalar().empty());
}

// `--set stages.0.data.shards=DIR` switches that stage's source: the json beside it goes, so the
// switch is one override rather than two. Clearing a source (an empty value) keeps the other.
void drop_other_source(YAML::Node& data, const std::string& key, const YAML::Node& value) {
  const std::string other = other_source(key);
  if (!other.empty() && names_something(value)) data.remove(other);
}

// Writes one --set into the tree, creating the maps it names that do not exist yet.
void apply_override(const YAML::Node& root, const Override& change, OverrideLog& log) {
  const std::string where = "--set " + change.text;
  YAML::Node value;
  try {
    value = YAML::Load(change.value);
  } catch (const YAML::Exception& error) {
    throw_at(where, "the value is not valid YAML (" + error.msg + ")");
  }
  // `node` walks down the tree: reset() moves the handle, whereas assigning to it would overwrite
  // the node it stands for.
  YAML::Node node = root;
  std::string path;
  for (size_t i = 0; i < change.keys.size(); ++i) {
    const std::string& key = change.keys[i];
    const bool last = i + 1 == change.keys.size();
    if (node.IsSequence()) {
      size_t index = 0;
      if (!parse_number(key, index)) {
        throw_at(where, path + " is a list: name an entry by its number, e.g. " + path + ".0");
      }
      if (index >= node.size()) {
        throw_at(where, path + " has " + std::to_string(node.size()) + " entries, so no entry " +
                            key + " (entries count from 0)");
      }
      path = index_path(path, index);
      if (last) {
        node[index] = value;
        break;
      }
      YAML::Node next = node[index];
      node.reset(next);
    } else if (node.IsMap() || node.IsNull()) {
      path = child_path(path, key);
      if (last) {
        node[key] = value;
        if (i > 0 && change.keys[i - 1] == "data") drop_other_source(node, key, value);
        break;
      }
      const YAML::Node& read_only = node;  // a const lookup adds nothing to the map
      const YAML::Node existing = read_only[key];
      if (!existing.IsDefined() || existing.IsNull()) node[key] = YAML::Node(YAML::NodeType::Map);
      YAML::Node next = node[key];
      node.reset(next);
    } else {
      throw_at(where, path + " is a single value, so it has no key '" + key + "'");
    }
  }
  log.record(path, where);
}

struct Entry {
  std::string key;
  YAML::Node value;
  YAML::Mark mark;  // the key's position
};

const Entry* find(const std::vector<Entry>& entries, const std::string& key) {
  for (const Entry& entry : entries) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

// Turns the YAML tree into a typed Recipe. Checks shapes, types and key names only; the values'
// rules are validate()'s. Records where each value came from for validate()'s messages.
class Reader {
 public:
  Reader(std::string source, const OverrideLog& overrides, Origins& origins,
         const ObjectiveCatalogue& objectives)
      : source_(std::move(source)), overrides_(overrides), origins_(origins) {
    VLM_CHECK(!objectives.empty(), InternalError, "load() was given no objectives");
    for (const ObjectiveKind* kind : objectives) objectives_.names.emplace_back(kind->word, kind);
  }

  Recipe recipe(const YAML::Node& root) {
    std::vector<std::string> known = schema::keys_of<Recipe>();
    for (const std::string& key : schema::keys_of<Stage>()) {
      if (key != "name") known.push_back(key);
    }
    const std::vector<Entry> top = entries(root, "", known);
    Recipe result;
    result.model = preset(result.model.preset);
    fields(top, "", result);
    // The top level holds the defaults every stage inherits.
    Stage defaults;
    defaults.name = "train";
    defaults.objective = objectives_.names.front().second;
    fields(top, "", defaults, "name");
    if (const Entry* listed = find(top, "stages")) {
      result.stages = stages(*listed, defaults);
    } else {
      result.stages = {defaults};
    }
    return result;
  }

 private:
  std::string where(const std::string& path, const YAML::Mark& mark) const {
    if (const std::string* override_text = overrides_.find(path)) return *override_text;
    return located(source_, mark);
  }

  [[noreturn]] void fail(const std::string& path, const YAML::Mark& mark,
                         const std::string& complaint) const {
    throw_at(where(path, mark), path + " " + complaint);
  }

  void remember(const std::string& path, const YAML::Mark& mark) {
    origins_.record(path, where(path, mark));
  }

  // The entries of a map, after checking that each key is a known name given once.
  std::vector<Entry> entries(const YAML::Node& map, const std::string& path,
                             const std::vector<std::string>& known) const {
    std::vector<Entry> result;
    for (const auto& item : map) {
      const YAML::Node& key = item.first;
      const YAML::Mark mark = key.Mark();
      if (!key.IsScalar()) {
        throw_at(where(path, mark), (path.empty() ? "the recipe" : path) + " has a key that is " +
                                        describe(key) + " instead of a name");
      }
      const std::string& name = key.Scalar();
      const std::string key_path = child_path(path, name);
      if (const Entry* earlier = find(result, name)) {
        throw_at(where(key_path, mark), "duplicate key '" + key_path + "' (first given at " +
                                            located(source_, earlier->mark) + ")");
      }
      if (!contains(known, name)) {
        throw_at(where(key_path, mark), "unknown key '" + key_path + "'" + suggestion(name, known));
      }
      result.push_back({name, item.second, mark});
    }
    return result;
  }

  // Reads the fields of `out` that `entries` give; `skip` names a key the caller handles.
  template <typename Section>
  void fields(const std::vector<Entry>& entries, const std::string& path, Section& out,
              const char* skip = nullptr) {
    schema::Fields<Section>::visit([&](const char* key, auto member, const auto& rule) {
      using Rule = std::decay_t<decltype(rule)>;
      if constexpr (!std::is_same_v<Rule, schema::StageList>) {  // stages need the defaults first
        if (skip != nullptr && std::strcmp(key, skip) == 0) return;
        if (const Entry* entry = find(entries, key)) {
          if constexpr (schema::is_choice<Rule>::value) {
            read_choice(entry->value, entry->mark, child_path(path, key), rule, out.*member);
          } else if constexpr (std::is_same_v<Rule, schema::ObjectiveWord>) {
            read_choice(entry->value, entry->mark, child_path(path, key), objectives_, out.*member);
          } else {
            read(entry->value, entry->mark, child_path(path, key), out.*member);
          }
        }
      }
    });
  }

  template <typename Section>
  void read_section(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                    Section& out) {
    if (node.IsNull()) return;  // "optimizer:" with nothing under it changes nothing
    if (!node.IsMap()) fail(path, mark, "must be a map of settings, got " + describe(node));
    fields(entries(node, path, schema::keys_of<Section>()), path, out);
  }

  template <typename Section>
  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path, Section& out) {
    read_section(node, mark, path, out);
  }

  // The preset fills every field first; the keys given beside it then override it.
  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
            ModelSection& out) {
    if (node.IsMap()) {
      for (const auto& item : node) {
        const bool is_preset = item.first.IsScalar() && item.first.Scalar() == "preset";
        if (is_preset && item.second.IsScalar() &&
            contains(schema::preset_names(), item.second.Scalar())) {
          out = preset(item.second.Scalar());  // an unknown name is validate()'s to report
        }
      }
    }
    read_section(node, mark, path, out);
  }

  const std::string& scalar(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                            const std::string& requirement) const {
    if (!node.IsScalar()) fail(path, mark, requirement + ", got " + describe(node));
    return node.Scalar();
  }

  template <typename Number>
  void read_number(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                   const std::string& requirement, Number& out) {
    const std::string& text = scalar(node, mark, path, requirement);
    if (!parse_number(text, out)) fail(path, mark, requirement + ", got " + quoted(text));
    remember(path, mark);
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path, int64_t& out) {
    read_number(node, mark, path, "must be an integer", out);
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
            uint64_t& out) {
    read_number(node, mark, path, "must be an integer >= 0", out);
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path, double& out) {
    read_number(node, mark, path, "must be a number", out);
    if (!std::isfinite(out)) fail(path, mark, "must be a finite number, got " + node.Scalar());
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path, bool& out) {
    const std::string& text = scalar(node, mark, path, "must be true or false");
    if (!YAML::convert<bool>::decode(node, out)) {
      fail(path, mark, "must be true or false, got " + quoted(text));
    }
    remember(path, mark);
  }

  // A key given with nothing after it is the empty string.
  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
            std::string& out) {
    out = node.IsNull() ? "" : scalar(node, mark, path, "must be a string");
    remember(path, mark);
  }

  // An enumerator cannot hold a word outside its list, so the word is checked here, not in
  // validate().
  template <typename Enum>
  void read_choice(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                   const schema::Choice<Enum>& rule, Enum& out) {
    const std::string requirement = "must be one of " + schema::join(rule.words());
    const std::string& text = scalar(node, mark, path, requirement);
    const Enum* found = rule.find(text);
    if (found == nullptr) fail(path, mark, requirement + ", got " + quoted(text));
    out = *found;
    remember(path, mark);
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
            std::vector<std::string>& out) {
    out.clear();
    remember(path, mark);
    if (node.IsNull()) return;
    if (!node.IsSequence())
      fail(path, mark, "must be a list such as [a, b], got " + describe(node));
    for (const auto& element : node) {
      const std::string element_path = index_path(path, out.size());
      const YAML::Mark element_mark = element.Mark().is_null() ? mark : element.Mark();
      out.push_back(scalar(element, element_mark, element_path, "must be a name"));
      remember(element_path, element_mark);
    }
  }

  void read(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
            std::vector<int64_t>& out) {
    out.clear();
    remember(path, mark);
    if (node.IsNull()) return;
    if (!node.IsSequence())
      fail(path, mark, "must be a list such as [0, 1], got " + describe(node));
    for (const auto& element : node) {
      const std::string element_path = index_path(path, out.size());
      const YAML::Mark element_mark = element.Mark().is_null() ? mark : element.Mark();
      int64_t number = 0;
      read(element, element_mark, element_path, number);
      out.push_back(number);
    }
  }

  std::vector<Stage> stages(const Entry& listed, const Stage& defaults) {
    const std::string path = "stages";
    const YAML::Node& list = listed.value;
    if (!list.IsSequence())
      fail(path, listed.mark, "must be a list of stages, got " + describe(list));
    if (list.size() == 0) fail(path, listed.mark, "must list at least one stage");
    origins_.set_explicit_stages(true);
    std::vector<Stage> result;
    for (const auto& node : list) {
      const std::string stage_path = index_path(path, result.size());
      const YAML::Mark mark = node.Mark().is_null() ? listed.mark : node.Mark();
      remember(stage_path, mark);
      if (!node.IsMap()) fail(stage_path, mark, "must be a map with a name, got " + describe(node));
      reject_recipe_keys(node, stage_path);
      Stage stage = defaults;
      stage.name.clear();  // each stage names itself
      read_section(node, mark, stage_path, stage);
      drop_inherited_source(stage_path, stage.data);
      result.push_back(std::move(stage));
    }
    return result;
  }

  // A stage that names its own sample source (json or shards) does not also inherit the other.
  void drop_inherited_source(const std::string& stage_path, DataSection& data) const {
    const std::string data_path = child_path(stage_path, "data");
    auto names = [&](const std::string& key, const std::string& value) {
      return origins_.records(child_path(data_path, key)) && !value.empty();
    };
    if (names("shards", data.shards) && !origins_.records(child_path(data_path, "json"))) {
      data.json.clear();
    }
    if (names("json", data.json) && !origins_.records(child_path(data_path, "shards"))) {
      data.shards.clear();
    }
  }

  // A clearer message than "unknown key" for a recipe-wide section put inside a stage.
  void reject_recipe_keys(const YAML::Node& stage, const std::string& stage_path) const {
    const std::vector<std::string> stage_keys = schema::keys_of<Stage>();
    for (const auto& item : stage) {
      if (!item.first.IsScalar()) continue;
      const std::string& key = item.first.Scalar();
      if (contains(schema::keys_of<Recipe>(), key) && !contains(stage_keys, key)) {
        const std::string key_path = child_path(stage_path, key);
        throw_at(where(key_path, item.first.Mark()),
                 "unknown key '" + key_path + "' (" + key +
                     " applies to the whole recipe: set it at the top level)");
      }
    }
  }

  std::string source_;
  const OverrideLog& overrides_;
  Origins& origins_;
  schema::Choice<const ObjectiveKind*> objectives_;
};

// Whether `path` is data.json or data.shards and the stage names the other one itself (which
// then wins over the inherited override).
bool names_other_source(const Origins& origins, const std::string& stage_path,
                        const DataSection& data, const std::string& path) {
  const std::string prefix = "data.";
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string other = other_source(path.substr(prefix.size()));
  if (other.empty()) return false;
  const std::string& value = other == "json" ? data.json : data.shards;
  return origins.records(child_path(stage_path, prefix + other)) && !value.empty();
}

// A stage default that every stage sets for itself is overridden in vain: say so, rather than
// train something other than what was asked for.
void require_overrides_take_effect(const OverrideLog& log, const Origins& origins,
                                   const std::vector<Stage>& stages) {
  if (!origins.explicit_stages()) return;
  for (const auto& [path, where] : log.paths()) {
    bool shadowed = true;
    for (size_t i = 0; i < stages.size() && shadowed; ++i) {
      const std::string stage_path = index_path("stages", i);
      shadowed = origins.records(child_path(stage_path, path)) ||
                 names_other_source(origins, stage_path, stages[i].data, path);
    }
    if (shadowed) {
      throw_at(where, "changes nothing: every stage sets its own " + path + " (use stages.N." +
                          path + ")");
    }
  }
}

// Only notes where each document starts.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { last = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark last = YAML::Mark::null_mark();
};

// A recipe is one YAML document. YAML::LoadAll cannot tell: on a stray ',' at the top level
// yaml-cpp 0.7 reports an empty document without consuming the ',', forever, so LoadAll never
// returns. Counting documents here stops as soon as the parser stops advancing.
void require_one_document(const std::string& text, const std::string& source) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts starts;
  int documents = 0;
  int previous_start = -1;
  while (parser.HandleNextDocument(starts)) {
    if (starts.last.pos == previous_start) {
      const size_t at = static_cast<size_t>(std::max(0, previous_start));
      throw_at(located(source, starts.last),
               "invalid YAML: unexpected " + quoted(text.substr(at, 1)));
    }
    if (++documents > 1) {
      throw_at(located(source, starts.last),
               "a second YAML document (after ---): a recipe is one document");
    }
    previous_start = starts.last.pos;
  }
}

YAML::Node parse_document(const std::string& text, const std::string& source) {
  try {
    require_one_document(text, source);
    return YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw_at(located(source, error.mark), "invalid YAML: " + error.msg);
  }
}

}  // namespace

Recipe load(const std::string& path, const ObjectiveCatalogue& objectives,
            const std::vector<std::string>& overrides) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) throw_at(path, "cannot open recipe file");
  std::string text;
  try {
    text = files::read_all(path);
  } catch (const IoError&) {
    throw_at(path, "cannot open recipe file");
  }
  return load_text(text, path, objectives, overrides);
}

Recipe load_text(const std::string& yaml, const std::string& source_name,
                 const ObjectiveCatalogue& objectives, const std::vector<std::string>& overrides) {
  try {
    YAML::Node root = parse_document(yaml, source_name);
    if (root.IsNull()) {
      if (overrides.empty()) throw_at(source_name, "the recipe is empty");
      root.reset(YAML::Node(YAML::NodeType::Map));
    }
    if (!root.IsMap()) {
      throw_at(located(source_name, root.Mark()),
               "a recipe is a map of sections (run_dir, model, stages...), got " + describe(root));
    }
    OverrideLog override_log;
    for (const std::string& text : overrides) {
      apply_override(root, parse_override(text), override_log);
    }
    Origins origins(source_name);
    Recipe recipe = Reader(source_name, override_log, origins, objectives).recipe(root);
    require_overrides_take_effect(override_log, origins, recipe.stages);
    validate(recipe, origins, objectives);
    recipe.source_path = source_name;
    recipe.resolved_yaml = dump(recipe);
    return recipe;
  } catch (const YAML::Exception& error) {
    // yaml-cpp refused an operation on a malformed tree: still a fault of the recipe's text.
    throw_at(source_name, std::string("invalid YAML: ") + error.what());
  }
}

}  // namespace vlm::recipes
