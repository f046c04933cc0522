// The partition of vlm-shard's inputs into shards, decided by rank 0 and shared with every rank.
// Shard ranges depend only on the inputs and --samples-per-shard: source s's records
// [k*K, (k+1)*K) form one shard, shards never mix sources, and global shard numbers follow the
// order of the inputs. So each sample's shard and place follow from its record index, whatever
// the number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard_format.h"
#include "data/shard_index.h"

namespace vlm::data {

// One --input: "PATH[:name=NAME][:weight=W][:image_root=DIR]".
struct SourceSpec {
  std::string path;
  std::string name;     // default: the file name without its extension
  double weight = 1.0;  // sampling weight (recorded in index.json; content does not depend on it)
  std::string image_root;  // default: --image-root, else the input file's folder
};

// Throws ConfigError for an empty path, an unknown key, a bad weight or an empty name.
SourceSpec parse_source_spec(const std::string& text, const std::string& default_image_root);

struct PlannedShard {
  int64_t source = 0;        // index into ShardPlan::sources
  int64_t first_record = 0;  // within the source
  int64_t record_count = 0;
  uint64_t start_offset = 0;  // byte offset of its first record in the input file
};

struct ShardPlan {
  int64_t samples_per_shard = 0;
  // Name, path, format, weight, image root, size, checksum, records, first_shard, shard_count
  // are set; samples and skips are filled when the shards are written.
  std::vector<data::SourceEntry> sources;
  std::vector<PlannedShard> shards;
};

// Streams every input once (rank 0's job). Throws ConfigError (duplicate source names, bad K),
// IoError, FormatError (a JSON array whose structure is broken).
ShardPlan plan_shards(const std::vector<SourceSpec>& specs, int64_t samples_per_shard);

std::string plan_to_json(const ShardPlan& plan);
ShardPlan plan_from_json(const std::string& json);

// What a finished shard file must say about itself to be kept by a rerun.
data::ShardHeader planned_header(const ShardPlan& plan, int64_t shard);

}  // namespace vlm::data
