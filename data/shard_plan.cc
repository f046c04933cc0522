#include "data/shard_plan.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "data/record_stream.h"

namespace vlm::data {
namespace {

using Json = nlohmann::ordered_json;

bool is_option(const std::string& part, std::string& key, std::string& value) {
  const size_t equals = part.find('=');
  if (equals == std::string::npos) return false;
  key = part.substr(0, equals);
  value = part.substr(equals + 1);
  return key == "name" || key == "weight" || key == "image_root";
}

double parse_weight(const std::string& value, const std::string& spec) {
  char* end = nullptr;
  const double weight = std::strtod(value.c_str(), &end);
  VLM_CHECK(!value.empty() && end && *end == '\0' && weight > 0.0, ConfigError, "--input ", spec,
            ": weight must be a positive number, got '", value, "'");
  return weight;
}

// The content of a shard depends on these besides its record range.
std::string fingerprint(const data::SourceEntry& source, int64_t samples_per_shard) {
  return "format_version=" + std::to_string(data::kShardFormatVersion) +
         ";samples_per_shard=" + std::to_string(samples_per_shard) +
         ";image_root=" + source.image_root;
}

}  // namespace

SourceSpec parse_source_spec(const std::string& text, const std::string& default_image_root) {
  // Options are the trailing ":key=value" parts with a known key; the rest is the path (which may
  // itself contain ':').
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  SourceSpec spec;
  bool has_name = false, has_root = false;
  std::string key, value;
  while (parts.size() > 1 && is_option(parts.back(), key, value)) {
    if (key == "weight") {
      spec.weight = parse_weight(value, text);
    } else if (key == "name") {
      spec.name = value;
      has_name = true;
    } else {
      spec.image_root = value;
      has_root = true;
    }
    parts.pop_back();
  }
  for (size_t i = 0; i < parts.size(); ++i) spec.path += (i ? ":" : "") + parts[i];
  VLM_CHECK(!spec.path.empty(), ConfigError, "--input '", text, "' names no file");
  if (!has_name) spec.name = std::filesystem::path(spec.path).stem().string();
  VLM_CHECK(!spec.name.empty() && spec.name.find_first_of("\n\"\\") == std::string::npos,
            ConfigError, "--input ", text, ": the source name must be non-empty plain text");
  if (!has_root) {
    spec.image_root = default_image_root.empty() ? files::parent(spec.path) : default_image_root;
  }
  VLM_CHECK(!spec.image_root.empty(), ConfigError, "--input ", text, ": empty image_root");
  return spec;
}

ShardPlan plan_shards(const std::vector<SourceSpec>& specs, int64_t samples_per_shard) {
  VLM_CHECK(samples_per_shard > 0, ConfigError, "--samples-per-shard must be positive, got ",
            samples_per_shard);
  VLM_CHECK(!specs.empty(), ConfigError, "no --input given");
  ShardPlan plan;
  plan.samples_per_shard = samples_per_shard;
  std::set<std::string> names;
  for (size_t s = 0; s < specs.size(); ++s) {
    const SourceSpec& spec = specs[s];
    VLM_CHECK(names.insert(spec.name).second, ConfigError, "two inputs are named '", spec.name,
              "': give one of them :name=OTHER");
    VLM_CHECK(files::exists(spec.path), IoError, "input ", spec.path, " not found");
    const data::CorpusFormat format = data::corpus_format_of(spec.path);
    const data::CorpusScan scan = data::scan_corpus(spec.path, format, samples_per_shard);
    data::SourceEntry source;
    source.name = spec.name;
    source.path = spec.path;
    source.format = data::corpus_format_name(format);
    source.weight = spec.weight;
    source.image_root = spec.image_root;
    source.size_bytes = static_cast<int64_t>(scan.size_bytes);
    source.checksum = scan.checksum;
    source.records = scan.records;
    source.first_shard = static_cast<int64_t>(plan.shards.size());
    source.shard_count = static_cast<int64_t>(scan.shard_starts.size());
    for (size_t k = 0; k < scan.shard_starts.size(); ++k) {
      const int64_t first = static_cast<int64_t>(k) * samples_per_shard;
      plan.shards.push_back({static_cast<int64_t>(s), first,
                             std::min(samples_per_shard, scan.records - first),
                             scan.shard_starts[k]});
    }
    plan.sources.push_back(std::move(source));
  }
  return plan;
}

std::string plan_to_json(const ShardPlan& plan) {
  Json json;
  json["samples_per_shard"] = plan.samples_per_shard;
  json["sources"] = Json::array();
  for (const auto& source : plan.sources) {
    json["sources"].push_back(data::source_to_json(source));
  }
  // Shards as flat rows [source, first_record, record_count, start_offset]: thousands of them.
  json["shards"] = Json::array();
  for (const auto& shard : plan.shards) {
    json["shards"].push_back(
        Json::array({shard.source, shard.first_record, shard.record_count, shard.start_offset}));
  }
  return json.dump();
}

ShardPlan plan_from_json(const std::string& text) {
  ShardPlan plan;
  try {
    const Json json = Json::parse(text);
    plan.samples_per_shard = json.at("samples_per_shard").get<int64_t>();
    for (const auto& item : json.at("sources"))
      plan.sources.push_back(data::source_from_json(item));
    for (const auto& row : json.at("shards")) {
      plan.shards.push_back({row.at(0).get<int64_t>(), row.at(1).get<int64_t>(),
                             row.at(2).get<int64_t>(), row.at(3).get<uint64_t>()});
    }
  } catch (const Json::exception& e) {
    VLM_THROW(InternalError, "the shard plan from rank 0 does not parse: ", e.what());
  }
  return plan;
}

data::ShardHeader planned_header(const ShardPlan& plan, int64_t shard) {
  const PlannedShard& planned = plan.shards.at(static_cast<size_t>(shard));
  const data::SourceEntry& source = plan.sources.at(static_cast<size_t>(planned.source));
  data::ShardHeader header;
  header.source = source.name;
  header.source_checksum = source.checksum;
  header.first_record = planned.first_record;
  header.record_count = planned.record_count;
  header.fingerprint = fingerprint(source, plan.samples_per_shard);
  return header;
}

}  // namespace vlm::data
