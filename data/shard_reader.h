// Reads one shard file (format in data/shard_format.h). Opening checks the format version; the
// per-sample lengths and offsets are read once at open, each sample's bytes on demand.
// HDF5 calls are serialized process-wide (Debian's HDF5 is not thread-safe), so loader threads
// may share readers but gain no parallelism inside HDF5.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/shard_format.h"

namespace vlm::data {

class ShardReader {
 public:
  // Throws IoError when the file is missing or not readable, FormatError when it is not a shard
  // or its format_version differs from kShardFormatVersion (the message names the file and both
  // versions).
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;

  const std::string& path() const;
  const ShardHeader& header() const;
  int64_t size() const;  // samples

  // Sample i (0 <= i < size()), images included. Throws std::out_of_range for a bad index.
  ShardSample read(int64_t i) const;
  // Per sample, in order (length-grouped sampling needs these without reading samples).
  const std::vector<int64_t>& text_lengths() const;
  const std::vector<int32_t>& image_counts() const;
  const std::vector<int64_t>& record_indices() const;
  // The records of the shard's range that were skipped, in record order.
  std::vector<SkippedRecord> skipped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The format version stored in a shard file (for tools that report rather than refuse).
int64_t shard_format_version(const std::string& path);

}  // namespace vlm::data
