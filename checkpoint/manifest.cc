#include "checkpoint/manifest.h"

#include <nlohmann/json.hpp>
#include "common/bounded_json.h"

#include <cmath>

#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"

namespace vlm::checkpoint {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kMaxStages = 4096;
constexpr int64_t kMaxCounter = int64_t{1} << 53;

// Reads one JSON object strictly: every key it takes is required and typed, and done() rejects
// keys nobody took. Messages name the source and the key's path ("files[1].slices[0].count").
class ObjectReader {
 public:
  ObjectReader(const Json& object, std::string where, const std::string& source)
      : object_(object), where_(std::move(where)), source_(source) {
    VLM_CHECK(object.is_object(), FormatError, source_, ": ", label(), "expected an object");
  }

  const Json& at(const std::string& key) {
    const auto it = object_.find(key);
    VLM_CHECK(it != object_.end(), FormatError, source_, ": ", path(key), ": missing");
    taken_.insert(key);
    return *it;
  }

  int64_t count(const std::string& key) {
    const Json& value = at(key);
    VLM_CHECK(value.is_number_integer() && value.get<int64_t>() >= 0, FormatError, source_, ": ",
              path(key), ": expected a non-negative integer");
    return value.get<int64_t>();
  }

  uint64_t unsigned_integer(const std::string& key) {
    const Json& value = at(key);
    VLM_CHECK(value.is_number_unsigned(), FormatError, source_, ": ", path(key),
              ": expected a non-negative integer");
    return value.get<uint64_t>();
  }

  std::string text(const std::string& key) {
    const Json& value = at(key);
    VLM_CHECK(value.is_string(), FormatError, source_, ": ", path(key), ": expected a string");
    return value.get<std::string>();
  }

  const Json& array(const std::string& key) {
    const Json& value = at(key);
    VLM_CHECK(value.is_array(), FormatError, source_, ": ", path(key), ": expected a list");
    return value;
  }

  const Json& object(const std::string& key) {
    const Json& value = at(key);
    VLM_CHECK(value.is_object(), FormatError, source_, ": ", path(key), ": expected an object");
    return value;
  }

  void done() const {
    for (const auto& [key, value] : object_.items()) {
      VLM_CHECK(taken_.count(key) > 0, FormatError, source_, ": ", path(key), ": unknown key");
    }
  }

  std::string path(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }

 private:
  std::string label() const { return where_.empty() ? "" : where_ + ": "; }

  const Json& object_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> taken_;
};

std::string indexed(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

state::SliceRef parse_slice(const Json& json, const std::string& where, const std::string& source) {
  ObjectReader in(json, where, source);
  state::SliceRef slice;
  slice.buffer = in.text("buffer");
  slice.begin = in.count("begin");
  slice.count = in.count("count");
  in.done();
  return slice;
}

state::BufferLayout parse_buffer(const Json& json, const std::string& where,
                                 const std::string& source) {
  ObjectReader in(json, where, source);
  state::BufferLayout buffer;
  buffer.name = in.text("name");
  buffer.total = in.count("total");
  const Json& params = in.array("params");
  for (size_t i = 0; i < params.size(); ++i) {
    ObjectReader p(params[i], indexed(in.path("params"), i), source);
    state::ParamSpan span{p.text("name"), p.count("offset"), p.count("count")};
    VLM_CHECK(span.offset <= buffer.total && span.count <= buffer.total - span.offset, FormatError,
              source, ": ", p.path("count"), ": parameter ", span.name, " at [", span.offset, ", ",
              span.offset + span.count, ") lies outside the buffer's ", buffer.total, " elements");
    p.done();
    buffer.params.push_back(std::move(span));
  }
  in.done();
  return buffer;
}

FileInfo parse_file(const Json& json, const std::string& where, const std::string& source) {
  ObjectReader in(json, where, source);
  FileInfo file;
  file.name = in.text("name");
  VLM_CHECK(files::is_plain_file_name(file.name), FormatError, source, ": ", in.path("name"),
            ": not a plain file name: ", quoted_excerpt(file.name));
  file.bytes = in.count("bytes");
  file.checksum = in.text("checksum");
  const Json& slices = in.array("slices");
  for (size_t i = 0; i < slices.size(); ++i) {
    file.slices.push_back(parse_slice(slices[i], indexed(in.path("slices"), i), source));
  }
  in.done();
  return file;
}

// Everything a manifest says must fit together: slices inside known buffers, names unique.
void check_consistent(const Manifest& m, const std::string& source) {
  std::map<std::string, int64_t> totals;
  for (size_t i = 0; i < m.buffers.size(); ++i) {
    VLM_CHECK(totals.emplace(m.buffers[i].name, m.buffers[i].total).second, FormatError, source,
              ": ", indexed("buffers", i), ".name: '", m.buffers[i].name, "' appears twice");
  }
  std::set<std::string> names;
  for (size_t f = 0; f < m.files.size(); ++f) {
    const FileInfo& file = m.files[f];
    VLM_CHECK(names.insert(file.name).second, FormatError, source, ": ", indexed("files", f),
              ".name: '", file.name, "' appears twice");
    for (size_t s = 0; s < file.slices.size(); ++s) {
      const state::SliceRef& slice = file.slices[s];
      const std::string where = indexed(indexed("files", f) + ".slices", s);
      const auto total = totals.find(slice.buffer);
      VLM_CHECK(total != totals.end(), FormatError, source, ": ", where, ".buffer: '", slice.buffer,
                "' is not in buffers");
      VLM_CHECK(slice.begin <= total->second && slice.count <= total->second - slice.begin,
                FormatError, source, ": ", where, ": elements [", slice.begin, ", ",
                slice.begin + slice.count, ") lie outside buffer '", slice.buffer, "' of ",
                total->second);
    }
  }
}

Json file_json(const FileInfo& f) {
  Json slices = Json::array();
  for (const auto& s : f.slices) {
    slices.push_back({{"buffer", s.buffer}, {"begin", s.begin}, {"count", s.count}});
  }
  return {{"name", f.name}, {"bytes", f.bytes}, {"checksum", f.checksum}, {"slices", slices}};
}

}  // namespace

std::string to_json(const FileInfo& file) { return file_json(file).dump() + "\n"; }

FileInfo parse_file_info(const std::string& text, const std::string& source) {
  return parse_file(parse_bounded_json<Json>(text, source), "", source);
}

std::string to_json(const Manifest& m) {
  Json buffers = Json::array();
  for (const auto& b : m.buffers) {
    Json params = Json::array();
    for (const auto& p : b.params) {
      params.push_back({{"name", p.name}, {"offset", p.offset}, {"count", p.count}});
    }
    buffers.push_back({{"name", b.name}, {"total", b.total}, {"params", params}});
  }
  Json files = Json::array();
  for (const auto& f : m.files) files.push_back(file_json(f));
  Json counters = Json::object();
  for (const auto& [name, value] : m.counters) counters[name] = value;
  const Json out = {{"format_version", m.format_version},
                    {"stage_index", m.stage_index},
                    {"stage_name", m.stage_name},
                    {"step", m.step},
                    {"global_sample", m.global_sample},
                    {"optimizer_steps", m.optimizer_steps},
                    {"seed", m.seed},
                    {"world_size", m.world_size},
                    {"base_model", m.base_model},
                    {"counters", counters},
                    {"buffers", buffers},
                    {"files", files},
                    {"recipe_yaml", m.recipe_yaml}};
  return out.dump(1) + "\n";
}

Manifest parse_manifest(const std::string& text, const std::string& source) {
  const Json json = parse_bounded_json<Json>(text, source);
  ObjectReader in(json, "", source);
  Manifest m;
  const int64_t version = in.count("format_version");
  VLM_CHECK(version == kFormatVersion, FormatError, source, ": format_version ", version,
            " (this build reads ", kFormatVersion, ")");
  m.stage_index = in.count("stage_index");
  VLM_CHECK(m.stage_index < kMaxStages, FormatError, source, ": stage_index ", m.stage_index,
            ": a recipe has fewer than ", kMaxStages, " stages");
  m.stage_name = in.text("stage_name");
  // Counters stay far from int64's end, so the arithmetic on them (next step, samples of the next
  // batch) cannot overflow; 2^53 steps is beyond any run.
  m.step = in.count("step");
  m.global_sample = in.count("global_sample");
  m.optimizer_steps = in.count("optimizer_steps");
  for (const auto& [key, value] : {std::pair{"step", m.step},
                                   {"global_sample", m.global_sample},
                                   {"optimizer_steps", m.optimizer_steps}}) {
    VLM_CHECK(value <= kMaxCounter, FormatError, source, ": ", key, " ", value,
              ": over 2^53, not a real run's count");
  }
  m.seed = in.unsigned_integer("seed");
  const int64_t world = in.count("world_size");
  VLM_CHECK(world >= 1 && world <= (1 << 24), FormatError, source, ": world_size ", world,
            ": expected 1 or more");
  m.world_size = static_cast<int>(world);
  m.base_model = in.text("base_model");
  for (const auto& [name, value] : in.object("counters").items()) {
    VLM_CHECK(value.is_number() && std::isfinite(value.get<double>()) &&
                  std::fabs(value.get<double>()) <= static_cast<double>(kMaxCounter),
              FormatError, source, ": counters.", name, ": expected a finite number up to 2^53");
    m.counters[name] = value.get<double>();
  }
  const Json& buffers = in.array("buffers");
  for (size_t i = 0; i < buffers.size(); ++i) {
    m.buffers.push_back(parse_buffer(buffers[i], indexed("buffers", i), source));
  }
  const Json& files = in.array("files");
  for (size_t i = 0; i < files.size(); ++i) {
    m.files.push_back(parse_file(files[i], indexed("files", i), source));
  }
  m.recipe_yaml = in.text("recipe_yaml");
  in.done();
  check_consistent(m, source);
  return m;
}

Manifest read_manifest(const std::string& path) {
  VLM_CHECK(files::exists(path), IoError, path, ": missing");
  return parse_manifest(files::read_all(path), path);
}

}  // namespace vlm::checkpoint
