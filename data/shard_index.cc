#include "data/shard_index.h"

#include <nlohmann/json.hpp>
#include "common/bounded_json.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"
#include "data/shard_reader.h"

namespace vlm::data {
namespace {

using Json = nlohmann::ordered_json;

Json skips_json(const SkipCounts& skips) {
  Json by_reason = Json::object();
  for (const SkipReason reason : kAllSkipReasons)
    by_reason[skip_reason_name(reason)] = skips[reason];
  return by_reason;
}

SkipCounts skips_from(const Json& json) {
  SkipCounts skips;
  for (const auto& [name, count] : json.items()) skips[skip_reason_from_name(name)] = count;
  return skips;
}

Json shard_json(const ShardEntry& shard) {
  return Json{{"file", shard.file},
              {"source", shard.source},
              {"first_record", shard.first_record},
              {"records", shard.records},
              {"samples", shard.samples},
              {"images", shard.images},
              {"image_samples", shard.image_samples},
              {"skipped", shard.skips.total()},
              {"skipped_by_reason", skips_json(shard.skips)},
              {"bytes", shard.bytes},
              {"checksum", shard.checksum}};
}

ShardEntry shard_from(const Json& json) {
  ShardEntry shard;
  shard.file = json.at("file").get<std::string>();
  shard.source = json.at("source").get<std::string>();
  shard.first_record = json.at("first_record").get<int64_t>();
  shard.records = json.at("records").get<int64_t>();
  shard.samples = json.at("samples").get<int64_t>();
  shard.images = json.at("images").get<int64_t>();
  shard.image_samples = json.at("image_samples").get<int64_t>();
  shard.skips = skips_from(json.at("skipped_by_reason"));
  shard.bytes = json.at("bytes").get<int64_t>();
  shard.checksum = json.at("checksum").get<std::string>();
  return shard;
}

}  // namespace

Json source_to_json(const SourceEntry& source) {
  return Json{{"name", source.name},
              {"path", source.path},
              {"format", source.format},
              {"weight", source.weight},
              {"image_root", source.image_root},
              {"size_bytes", source.size_bytes},
              {"checksum", source.checksum},
              {"records", source.records},
              {"samples", source.samples},
              {"skipped", source.skips.total()},
              {"skipped_by_reason", skips_json(source.skips)},
              {"first_shard", source.first_shard},
              {"shard_count", source.shard_count}};
}

SourceEntry source_from_json(const Json& json) {
  SourceEntry source;
  source.name = json.at("name").get<std::string>();
  source.path = json.at("path").get<std::string>();
  source.format = json.at("format").get<std::string>();
  source.weight = json.at("weight").get<double>();
  source.image_root = json.at("image_root").get<std::string>();
  source.size_bytes = json.at("size_bytes").get<int64_t>();
  source.checksum = json.at("checksum").get<std::string>();
  source.records = json.at("records").get<int64_t>();
  source.samples = json.at("samples").get<int64_t>();
  source.skips = skips_from(json.at("skipped_by_reason"));
  source.first_shard = json.at("first_shard").get<int64_t>();
  source.shard_count = json.at("shard_count").get<int64_t>();
  return source;
}

int64_t SkipCounts::total() const {
  int64_t sum = 0;
  for (const int64_t count : by_reason) sum += count;
  return sum;
}

void SkipCounts::add(const SkipCounts& other) {
  for (size_t i = 0; i < by_reason.size(); ++i) by_reason[i] += other.by_reason[i];
}

int64_t ShardIndex::records_read() const {
  int64_t sum = 0;
  for (const ShardEntry& shard : shards) sum += shard.records;
  return sum;
}

int64_t ShardIndex::samples_written() const {
  int64_t sum = 0;
  for (const ShardEntry& shard : shards) sum += shard.samples;
  return sum;
}

SkipCounts ShardIndex::skips() const {
  SkipCounts sum;
  for (const ShardEntry& shard : shards) sum.add(shard.skips);
  return sum;
}

std::string shard_file_name(int64_t k) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%06lld.h5", static_cast<long long>(k));
  return name;
}

std::string shard_index_json(const ShardIndex& index) {
  Json json;
  json["format_version"] = index.format_version;
  json["totals"] = Json{{"records_read", index.records_read()},
                        {"samples_written", index.samples_written()},
                        {"skipped", index.skips().total()},
                        {"skipped_by_reason", skips_json(index.skips())}};
  json["samples_per_shard"] = index.samples_per_shard;
  json["sample_lengths"] = "per shard: /samples/text_length (words), /samples/image_count";
  json["skipped_list"] = kSkippedListFile;
  json["sources"] = Json::array();
  for (const SourceEntry& source : index.sources) json["sources"].push_back(source_to_json(source));
  json["shards"] = Json::array();
  for (const ShardEntry& shard : index.shards) json["shards"].push_back(shard_json(shard));
  return json.dump(1) + "\n";
}

ShardIndex read_shard_index(const std::string& dir) {
  const std::string path = files::join(dir, kShardIndexFile);
  VLM_CHECK(files::exists(path), IoError, "shard index ", path,
            " not found (run vlm-shard to make a shard folder; for the tiny corpus, "
            "scripts/demo.sh, or vlm-synth then scripts/shard_tiny_corpus.sh)");
  const Json json = parse_bounded_json<Json>(files::read_all(path), path);
  ShardIndex index;
  try {
    index.format_version = json.at("format_version").get<int64_t>();
    VLM_CHECK(index.format_version == kShardFormatVersion, FormatError, path,
              " has shard format version ", index.format_version, " but this build reads version ",
              kShardFormatVersion, ": re-run vlm-shard of this build on the corpus");
    index.samples_per_shard = json.at("samples_per_shard").get<int64_t>();
    for (const auto& source : json.at("sources")) index.sources.push_back(source_from_json(source));
    for (const auto& shard : json.at("shards")) index.shards.push_back(shard_from(shard));
  } catch (const Json::exception& e) {
    VLM_THROW(FormatError, path, ": ", e.what());
  }
  // A shard is a file in the index's own folder: a path elsewhere is never opened.
  for (const ShardEntry& shard : index.shards) {
    VLM_CHECK(files::is_plain_file_name(shard.file), FormatError, path, ": shard file ",
              quoted_excerpt(shard.file), " is not a file name in the shard folder");
  }
  return index;
}

SampleLocator::SampleLocator(const ShardIndex& index) {
  starts_.reserve(index.shards.size() + 1);
  starts_.push_back(0);
  for (const ShardEntry& shard : index.shards) starts_.push_back(starts_.back() + shard.samples);
}

SampleLocation SampleLocator::locate(int64_t sample) const {
  if (sample < 0 || sample >= total()) {
    throw std::out_of_range("sample " + std::to_string(sample) + " of " + std::to_string(total()));
  }
  // The last start <= sample; empty shards share their start with the next one.
  const auto after = std::upper_bound(starts_.begin(), starts_.end(), sample);
  const auto shard = static_cast<int64_t>(after - starts_.begin()) - 1;
  return {shard, sample - starts_[static_cast<size_t>(shard)]};
}

SampleLengths read_sample_lengths(const std::string& dir, const ShardIndex& index) {
  SampleLengths lengths;
  lengths.text_length.reserve(static_cast<size_t>(index.samples_written()));
  lengths.image_count.reserve(static_cast<size_t>(index.samples_written()));
  for (const ShardEntry& shard : index.shards) {
    const ShardReader reader(files::join(dir, shard.file));
    VLM_CHECK(reader.size() == shard.samples, FormatError, reader.path(), " holds ", reader.size(),
              " samples but index.json says ", shard.samples);
    const auto& text = reader.text_lengths();
    const auto& images = reader.image_counts();
    lengths.text_length.insert(lengths.text_length.end(), text.begin(), text.end());
    lengths.image_count.insert(lengths.image_count.end(), images.begin(), images.end());
  }
  return lengths;
}

ShardIndex verify_shard_folder(const std::string& dir) {
  ShardIndex index = read_shard_index(dir);
  for (const ShardEntry& shard : index.shards) {
    const std::string path = files::join(dir, shard.file);
    const ShardReader reader(path);
    VLM_CHECK(reader.size() == shard.samples, FormatError, path, " holds ", reader.size(),
              " samples but index.json says ", shard.samples);
    check_shard_checksum(path, shard);
  }
  return index;
}

void check_shard_checksum(const std::string& path, const ShardEntry& shard,
                          const std::string& hint) {
  const std::string checksum = files::checksum_file(path);
  VLM_CHECK(checksum == shard.checksum, FormatError, path, " has checksum ", checksum,
            " but index.json says ", shard.checksum, hint);
}

}  // namespace vlm::data
