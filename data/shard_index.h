// index.json of a shard folder: what vlm-shard wrote, for the loader and for people. Totals come
// first; then the sources (with their weights and the input file's identity) and the shards in
// global order. Per-sample lengths are not in index.json (30M samples would make it huge): each
// shard holds them (/samples/text_length, /samples/image_count); read_sample_lengths() gathers
// them.
//
// The input file's identity is its path as given, its size and the checksum (files::Checksum,
// "crc32:..." as zlib.crc32 computes it) of its whole content (the planning pass reads every byte
// anyway); no modification time, so copying a corpus does not change it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/shard_format.h"

namespace vlm::data {

constexpr char kShardIndexFile[] = "index.json";
constexpr char kSkippedListFile[] = "skipped.jsonl";

struct SkipCounts {
  std::array<int64_t, kSkipReasonCount> by_reason{};
  int64_t total() const;
  void add(const SkipCounts& other);
  int64_t& operator[](SkipReason reason) { return by_reason[static_cast<size_t>(reason)]; }
  int64_t operator[](SkipReason reason) const { return by_reason[static_cast<size_t>(reason)]; }
};

struct SourceEntry {
  std::string name;
  std::string path;        // as given to vlm-shard
  std::string format;      // "json_array" | "json_lines"
  double weight = 1.0;     // sampling weight relative to the other sources
  std::string image_root;  // as given
  int64_t size_bytes = 0;
  std::string checksum;  // files::Checksum text of the whole file ("crc32:...")
  int64_t records = 0;   // records read, valid or not
  int64_t samples = 0;   // samples written
  SkipCounts skips;
  int64_t first_shard = 0;  // its shards are [first_shard, first_shard + shard_count)
  int64_t shard_count = 0;
};

// A source's entry as index.json stores it; the shard job's plan message carries the same form.
nlohmann::ordered_json source_to_json(const SourceEntry& source);
SourceEntry source_from_json(const nlohmann::ordered_json& json);

struct ShardEntry {
  std::string file;  // name inside the folder
  std::string source;
  int64_t first_record = 0;  // record range within the source
  int64_t records = 0;
  int64_t samples = 0;
  int64_t images = 0;         // images over all samples
  int64_t image_samples = 0;  // samples with at least one image
  SkipCounts skips;
  int64_t bytes = 0;
  std::string checksum;  // files::Checksum text of the shard file ("crc32:...")
};

struct ShardIndex {
  int64_t format_version = kShardFormatVersion;
  int64_t samples_per_shard = 0;  // records per shard range, valid or not
  std::vector<SourceEntry> sources;
  std::vector<ShardEntry> shards;

  int64_t records_read() const;
  int64_t samples_written() const;
  SkipCounts skips() const;
};

// The shard file name of global shard number k: "shard-000042.h5".
std::string shard_file_name(int64_t k);

// index.json's text: deterministic (fixed key order, no timestamps).
std::string shard_index_json(const ShardIndex& index);
// Reads dir/index.json. Throws IoError (missing), FormatError (malformed, or written by another
// format version: the message names the file and both versions).
ShardIndex read_shard_index(const std::string& dir);

// Where global sample g (shards in order, samples in shard order) lives.
struct SampleLocation {
  int64_t shard = 0;
  int64_t position = 0;
};
// Sample counts -> locations, by binary search over the shards' cumulative counts.
class SampleLocator {
 public:
  explicit SampleLocator(const ShardIndex& index);
  int64_t total() const { return starts_.back(); }
  // Throws std::out_of_range outside [0, total()).
  SampleLocation locate(int64_t sample) const;

 private:
  std::vector<int64_t> starts_;  // starts_[k] = samples before shard k; back() = total
};

// Per global sample: text length and image count, read from every shard's columns (LLaVA's
// modality length is text_length, negated when image_count is 0).
struct SampleLengths {
  std::vector<int64_t> text_length;
  std::vector<int32_t> image_count;
};
SampleLengths read_sample_lengths(const std::string& dir, const ShardIndex& index);

// Checks a shard folder against its index.json: every shard opens (format version included),
// has the recorded checksum, size and sample count. Returns the index; throws IoError /
// FormatError naming the first file that disagrees.
ShardIndex verify_shard_folder(const std::string& dir);
// FormatError naming path when its checksum is not the one index.json records for it; `hint`
// ends the message (what to do about it).
void check_shard_checksum(const std::string& path, const ShardEntry& shard,
                          const std::string& hint = "");

}  // namespace vlm::data
