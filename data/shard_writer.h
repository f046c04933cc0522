// Writes one shard file (format in data/shard_format.h). The file is built under path + ".tmp"
// and renamed to path only by finish(), after it is closed and synced: a run killed midway leaves
// no file under the final name that is not complete.
#pragma once

#include <memory>
#include <string>

#include "data/shard_format.h"

namespace vlm::data {

class ShardWriter {
 public:
  // Creates (or truncates) path + ".tmp" and records the header. Throws IoError.
  // format_version is for tests of the reader's version check; writers leave the default.
  ShardWriter(std::string path, ShardHeader header, int64_t format_version = kShardFormatVersion);
  // Without finish(): closes and removes the temporary file.
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Samples must come in record order; memory stays bounded (byte columns are appended to the
  // file in blocks of a few MiB).
  void add(const ShardSample& sample);
  void add_skipped(const SkippedRecord& skipped);
  // Writes the remaining columns and attributes, closes, fsyncs and renames into place.
  void finish();

  int64_t samples() const;
  int64_t skipped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlm::data
