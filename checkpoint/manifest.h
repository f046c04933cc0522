// The manifest: what a committed checkpoint is. Rank 0 writes it last, into the staging
// directory, before the rename that commits the checkpoint; a directory without one is not a
// checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "state/layout.h"

namespace vlm::checkpoint {

constexpr int kFormatVersion = 1;
constexpr const char* kManifestName = "manifest.json";

struct FileInfo {
  std::string name;  // relative to the checkpoint directory, e.g. "rank-00001.h5"
  int64_t bytes = 0;
  std::string checksum;  // files::Checksum text ("crc32:...") of the whole file
  std::vector<state::SliceRef> slices;
};

struct Manifest {
  int format_version = kFormatVersion;
  int64_t stage_index = 0;  // which stage of the recipe (0-based)
  std::string stage_name;
  int64_t step = 0;             // optimizer steps done in the stage
  int64_t global_sample = 0;    // the stage's loader counter (data::Loader::seek)
  int64_t optimizer_steps = 0;  // AdamW's step count (bias correction)
  uint64_t seed = 0;
  int world_size = 1;       // of the run that wrote it
  std::string recipe_yaml;  // the resolved recipe
  // How parameters that are not saved (frozen ones) are made again: "init seed 42" or a base
  // model's path and checksum.
  std::string base_model;
  std::vector<state::BufferLayout> buffers;
  std::vector<FileInfo> files;
  std::map<std::string, double> counters;  // e.g. "skipped_steps"
};

std::string to_json(const Manifest& manifest);
// FormatError naming `source` and the offending key for anything missing, mistyped or
// inconsistent (a slice outside its buffer, an unknown format version, ...).
Manifest parse_manifest(const std::string& text, const std::string& source);
Manifest read_manifest(const std::string& path);
// One rank's file entry on its own: what each rank sends rank 0 for the manifest.
std::string to_json(const FileInfo& file);
FileInfo parse_file_info(const std::string& text, const std::string& source);

}  // namespace vlm::checkpoint
