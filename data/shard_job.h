// vlm-shard's job, run collectively by every rank: rank 0 plans the partition (data/
// shard_plan.h) and shares it; each rank writes the shards dealt to it round-robin (shard k goes
// to rank k mod N: content never depends on who writes it); rank 0 gathers what each rank wrote
// and writes skipped.jsonl, then index.json, each atomically, index.json last.
//
// Restart: a rerun keeps every shard whose final file exists and whose header matches the plan
// (same input checksum, record range and options) and rewrites the others. Rank 0 removes
// index.json, skipped.jsonl, leftover *.tmp files and shard files past the plan before any rank
// writes, so a folder with index.json is always complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/communicator.h"
#include "common/error.h"
#include "data/image_root.h"
#include "data/shard_index.h"
#include "data/shard_plan.h"

namespace vlm::data {

struct ShardJobOptions {
  std::vector<SourceSpec> sources;
  std::string out_dir;
  int64_t samples_per_shard = 10000;
  bool strict = false;  // any skip is an error (FormatError naming the record)
  // A record longer than this is skipped (oversized_record) without being held whole.
  int64_t max_record_bytes = int64_t{4} << 20;
  data::ImageLimits image_limits;  // per image: file bytes, pixels by the header
  data::ImageLinks image_links = data::ImageLinks::kConfined;  // --follow-symlinks
};

struct ShardJobResult {
  data::ShardIndex index;      // complete on rank 0; empty elsewhere
  int64_t shards_written = 0;  // over all ranks
  int64_t shards_kept = 0;     // finished by an earlier run
  double seconds = 0.0;
};

// Thrown on ranks other than 0 when the job failed; rank 0 throws the error itself, with every
// failing rank's message, so a main prints it once.
class PeerFailed : public Error {
  using Error::Error;
};

// Collective: every rank of comm calls it with the same options.
ShardJobResult run_shard_job(const ShardJobOptions& options, cluster::Communicator& comm);

}  // namespace vlm::data
