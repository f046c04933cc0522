// dump(): the resolved recipe as YAML, every key written, walking the field lists of schema.h so
// that it writes exactly what the loader reads.
#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "recipes/load.h"
#include "recipes/schema.h"

namespace vlm::recipes {
namespace {

class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}

  template <typename Section>
  void section(const Section& section) {
    out_ << YAML::BeginMap;
    schema::Fields<Section>::visit([&](const char* key, auto member, const auto& rule) {
      out_ << YAML::Key << key << YAML::Value;
      value(section.*member, rule);
    });
    out_ << YAML::EndMap;
  }

 private:
  void value(int64_t number, const schema::Range&) { out_ << number; }
  void value(uint64_t number, const schema::Range&) { out_ << number; }
  // yaml-cpp's own formatting rounds; this text reads back as the same double.
  void value(double number, const schema::Range&) { out_ << schema::format_number(number); }
  void value(bool flag, schema::AnyBool) { out_ << flag; }
  template <typename Enum>
  void value(Enum enumerator, const schema::Choice<Enum>& rule) {
    out_ << rule.name_of(enumerator);
  }
  void value(const ObjectiveKind* kind, schema::ObjectiveWord) {
    VLM_CHECK(kind != nullptr, InternalError, "a stage without an objective");
    out_ << kind->word;
  }
  // yaml-cpp quotes any text that would read back as something else ("~", "a: b", "").
  void value(const std::string& text, const schema::Text&) { out_ << text; }

  void value(const std::vector<std::string>& names, const schema::NameList&) {
    out_ << YAML::Flow << YAML::BeginSeq;
    for (const std::string& name : names) out_ << name;
    out_ << YAML::EndSeq;
  }

  void value(const std::vector<int64_t>& numbers, const schema::IntList&) {
    out_ << YAML::Flow << YAML::BeginSeq;
    for (const int64_t number : numbers) out_ << number;
    out_ << YAML::EndSeq;
  }

  template <typename Section>
  void value(const Section& nested, schema::Nested) {
    section(nested);
  }

  void value(const std::vector<Stage>& stages, schema::StageList) {
    out_ << YAML::BeginSeq;
    for (const Stage& stage : stages) section(stage);
    out_ << YAML::EndSeq;
  }

  YAML::Emitter& out_;
};

}  // namespace

std::string dump(const Recipe& recipe) {
  YAML::Emitter out;
  out << YAML::Comment(
      "Resolved recipe: every key, the model preset expanded, each stage with all it inherits.");
  Writer(out).section(recipe);
  VLM_CHECK(out.good(), InternalError, "cannot write the recipe as YAML: ", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace vlm::recipes
