#include "recipes/schema.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "common/error.h"

namespace vlm::recipes::schema {

bool Range::accepts(double value) const {
  const bool above_low = low_open ? value > low : value >= low;
  const bool below_high = high_open ? value < high : value <= high;
  return above_low && below_high;
}

std::string Range::requirement() const {
  if (std::isinf(high)) {
    if (std::isinf(low)) return "";
    return std::string(low_open ? "must be > " : "must be >= ") + format_number(low);
  }
  return "must be in " + std::string(low_open ? "(" : "[") + format_number(low) + ", " +
         format_number(high) + (high_open ? ")" : "]");
}

Range any_number() { return Range{}; }

Range greater_than(double bound) {
  Range range;
  range.low = bound;
  range.low_open = true;
  return range;
}

Range at_least(double bound) {
  Range range;
  range.low = bound;
  return range;
}

Range half_open(double low, double high) {
  Range range;
  range.low = low;
  range.high = high;
  range.high_open = true;
  return range;
}

Range between(double low, double high) {
  Range range;
  range.low = low;
  range.high = high;
  return range;
}

Text any_text() { return Text{}; }

Text non_empty() { return Text{{}, true}; }

Text one_of(std::vector<std::string> allowed) { return Text{std::move(allowed), true}; }

std::string format_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string format_number(int64_t value) { return std::to_string(value); }

std::string format_number(uint64_t value) { return std::to_string(value); }

std::string join(const std::vector<std::string>& words, const std::string& separator) {
  std::string joined;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) joined += separator;
    joined += words[i];
  }
  return joined;
}

std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

}  // namespace vlm::recipes::schema

namespace vlm::recipes {

const std::string& name_of(Architecture architecture) {
  return schema::kArchitectures.name_of(architecture);
}

const std::string& name_of(LlmFamily family) { return schema::kLlmFamilies.name_of(family); }
const std::string& name_of(VisionType type) { return schema::kVisionTypes.name_of(type); }
const std::string& name_of(PositionInit init) { return schema::kPositionInits.name_of(init); }
const std::string& name_of(ProjectorType type) { return schema::kProjectorTypes.name_of(type); }
const std::string& name_of(FusionMode mode) { return schema::kFusionModes.name_of(mode); }
const std::string& name_of(ScheduleKind kind) { return schema::kScheduleKinds.name_of(kind); }
const std::string& name_of(ComputeDtype dtype) { return schema::kComputeDtypes.name_of(dtype); }
const std::string& name_of(DistillMode mode) { return schema::kDistillModes.name_of(mode); }

const std::string& name_of(VdepLoss loss) { return schema::kVdepLosses.name_of(loss); }

const std::string& name_of(SamplerKind sampler) { return schema::kSamplers.name_of(sampler); }

const std::string& name_of(Template chat_template) {
  return schema::kTemplates.name_of(chat_template);
}

std::optional<Template> template_named(const std::string& word) {
  const Template* found = schema::kTemplates.find(word);
  if (found == nullptr) return std::nullopt;
  return *found;
}

}  // namespace vlm::recipes
