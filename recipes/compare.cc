// equivalent(): field-by-field equality over the field lists of schema.h.
#include "recipes/load.h"
#include "recipes/schema.h"

namespace vlm::recipes {
namespace {

template <typename Section>
bool same_section(const Section& a, const Section& b);

template <typename Value, typename Rule>
bool same_value(const Value& a, const Value& b, const Rule&) {
  return a == b;
}

template <typename Section>
bool same_value(const Section& a, const Section& b, const schema::Nested&) {
  return same_section(a, b);
}

bool same_value(const std::vector<Stage>& a, const std::vector<Stage>& b,
                const schema::StageList&) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same_section(a[i], b[i])) return false;
  }
  return true;
}

template <typename Section>
bool same_section(const Section& a, const Section& b) {
  bool same = true;
  schema::Fields<Section>::visit([&](const char*, auto member, const auto& rule) {
    same = same && same_value(a.*member, b.*member, rule);
  });
  return same;
}

}  // namespace

bool equivalent(const Recipe& a, const Recipe& b) { return same_section(a, b); }

}  // namespace vlm::recipes
