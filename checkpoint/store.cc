#include "checkpoint/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "checkpoint/rank_file.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::checkpoint {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStagingSuffix = ".tmp";

bool is_staging(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, kStagingSuffix) == 0;
}

int64_t folder_bytes(const fs::path& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) bytes += static_cast<int64_t>(entry.file_size(ec));
  }
  return bytes;
}

// Each buffer's slices, over all files, must cover [0, total) exactly once.
void check_coverage(const Manifest& m, std::vector<std::string>& problems) {
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> ranges;
  for (const auto& file : m.files) {
    for (const auto& s : file.slices) ranges[s.buffer].emplace_back(s.begin, s.begin + s.count);
  }
  for (const auto& buffer : m.buffers) {
    auto& list = ranges[buffer.name];
    std::sort(list.begin(), list.end());
    int64_t next = 0;
    for (const auto& [begin, end] : list) {
      if (begin == end) continue;
      if (begin != next) {
        problems.push_back(fmt::format("{}: the files' slices {} elements at {} (of {})",
                                       buffer.name, begin < next ? "overlap" : "miss",
                                       std::min(begin, next), buffer.total));
        return;
      }
      next = end;
    }
    if (next != buffer.total) {
      problems.push_back(fmt::format("{}: the files' slices cover elements up to {} of {}",
                                     buffer.name, next, buffer.total));
    }
  }
}

void check_file(const fs::path& dir, const FileInfo& file, std::vector<std::string>& problems) {
  const fs::path path = dir / file.name;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    problems.push_back(file.name + ": missing");
    return;
  }
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (bytes != file.bytes) {
    problems.push_back(fmt::format("{}: {}: {} bytes, manifest says {}", file.name,
                                   bytes < file.bytes ? "truncated" : "wrong size", bytes,
                                   file.bytes));
    return;
  }
  const std::string checksum = files::checksum_file(path.string());
  if (checksum != file.checksum) {
    problems.push_back(
        fmt::format("{}: checksum {}, manifest says {}", file.name, checksum, file.checksum));
  }
}

}  // namespace

CheckpointStore::CheckpointStore(std::string root) : root_(std::move(root)) {}

std::string CheckpointStore::tag_for(int64_t stage_index, int64_t step) {
  return fmt::format("s{:02d}-step-{:08d}", stage_index, step);
}

std::string CheckpointStore::staging_dir(const std::string& tag) const {
  return files::join(root_, tag + kStagingSuffix);
}

std::string CheckpointStore::committed_dir(const std::string& tag) const {
  return files::join(root_, tag);
}

void CheckpointStore::prepare_staging(const std::string& tag) const {
  const std::string dir = staging_dir(tag);
  std::error_code ec;
  fs::remove_all(dir, ec);
  VLM_CHECK(!ec, IoError, "cannot remove the stale ", dir, ": ", ec.message());
  files::make_directories(dir);
}

void CheckpointStore::commit(const std::string& tag, const Manifest& manifest) const {
  const std::string staging = staging_dir(tag);
  const std::string committed = committed_dir(tag);
  files::write_atomically(files::join(staging, kManifestName), to_json(manifest));
  files::sync_directory(staging);
  std::error_code ec;
  // A checkpoint of the same tag (a run resumed before it) makes way only once the new one is in.
  const std::string old = committed + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(committed)) fs::rename(committed, old, ec);
  fs::rename(staging, committed, ec);
  VLM_CHECK(!ec, IoError, "cannot rename ", staging, " to ", committed, ": ", ec.message());
  files::sync_directory(root_);
  fs::remove_all(old, ec);
}

std::vector<CheckpointEntry> CheckpointStore::list() const {
  std::vector<CheckpointEntry> entries;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return entries;
  for (const auto& dir : fs::directory_iterator(root_, ec)) {
    if (!dir.is_directory(ec)) continue;
    const std::string name = dir.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".old") == 0) continue;
    CheckpointEntry entry;
    entry.committed = !is_staging(name);
    entry.tag = entry.committed ? name : name.substr(0, name.size() - 4);
    entry.path = dir.path().string();
    entry.bytes = folder_bytes(dir.path());
    try {
      const Manifest m = read_manifest((dir.path() / kManifestName).string());
      entry.stage_index = m.stage_index;
      entry.step = m.step;
    } catch (const Error&) {
      // Damaged or not yet written: the entry says -1; verify() says why.
    }
    entries.push_back(entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.tag != b.tag ? a.tag < b.tag : a.committed < b.committed;
  });
  return entries;
}

Verification CheckpointStore::verify(const std::string& tag, const ManifestCheck& also) const {
  Verification result;
  const fs::path dir = committed_dir(tag);
  const fs::path manifest_path = dir / kManifestName;
  std::error_code ec;
  if (!fs::exists(manifest_path, ec)) {
    result.problems.push_back(std::string(kManifestName) + ": missing");
  } else {
    try {
      const Manifest manifest = read_manifest(manifest_path.string());
      for (const auto& file : manifest.files) check_file(dir, file, result.problems);
      check_coverage(manifest, result.problems);
      if (also) {
        std::string problem = also(manifest);
        if (!problem.empty()) result.problems.push_back(std::move(problem));
      }
    } catch (const Error& e) {
      result.problems.push_back(std::string(kManifestName) + ": " + e.what());
    }
  }
  result.ok = result.problems.empty();
  return result;
}

std::optional<std::string> CheckpointStore::newest_valid(std::vector<std::string>* skipped,
                                                         const ManifestCheck& also) const {
  std::vector<CheckpointEntry> entries = list();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (!it->committed) continue;
    const Verification check = verify(it->tag, also);
    if (check.ok) return it->tag;
    if (skipped != nullptr) {
      std::string why;
      for (const auto& problem : check.problems) why += (why.empty() ? "" : "; ") + problem;
      skipped->push_back(it->tag + ": " + why);
    }
  }
  return std::nullopt;
}

void CheckpointStore::prune(int64_t keep_last) const {
  VLM_CHECK(keep_last >= 1, ConfigError, "checkpoint.keep_last must be at least 1, got ",
            keep_last);
  std::vector<std::string> committed;
  for (const auto& entry : list()) {
    if (entry.committed && fs::exists(fs::path(entry.path) / kManifestName)) {
      committed.push_back(entry.tag);
    }
  }
  if (committed.empty()) return;
  std::error_code ec;
  const std::string newest = committed.back();
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < committed.size(); ++i) {
    // Renamed to its staging name first: a kill in the middle of the deletion then leaves an
    // uncommitted folder (removed by the next prune), never a committed one with files missing.
    const std::string doomed = staging_dir(committed[i]);
    fs::rename(committed_dir(committed[i]), doomed, ec);
    if (!ec) fs::remove_all(doomed, ec);
  }
  for (const auto& entry : list()) {
    if (!entry.committed && entry.tag < newest) fs::remove_all(entry.path, ec);
  }
}

at::Tensor read_buffer_range(const std::string& dir, const Manifest& manifest,
                             const std::string& buffer, int64_t begin, int64_t count) {
  at::Tensor out = at::empty({count}, at::TensorOptions().dtype(at::kFloat));
  int64_t covered = 0;
  for (const auto& file : manifest.files) {
    for (const auto& slice : file.slices) {
      if (slice.buffer != buffer) continue;
      const int64_t from = std::max(begin, slice.begin);
      const int64_t to = std::min(begin + count, slice.begin + slice.count);
      if (from >= to) continue;
      read_rank_range(files::join(dir, file.name), buffer, from, to - from,
                      out.data_ptr<float>() + (from - begin));
      covered += to - from;
    }
  }
  VLM_CHECK(covered == count, FormatError, files::join(dir, kManifestName), ": the slices of ",
            buffer, " cover ", covered, " of elements [", begin, ", ", begin + count, ")");
  return out;
}

}  // namespace vlm::checkpoint
