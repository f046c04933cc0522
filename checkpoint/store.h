// The checkpoints of a run: a directory of committed checkpoints ("<tag>/" holding rank files
// and manifest.json) and at most a few staging ones ("<tag>.tmp/"). A checkpoint is committed
// by renaming its staging directory once the manifest is in it, so a kill at any instant leaves
// either the old set or the new one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/manifest.h"
#include "state/flat_slice.h"

namespace vlm::checkpoint {

struct CheckpointEntry {
  std::string tag;
  std::string path;
  bool committed = false;    // false: a staging directory (an interrupted or running save)
  int64_t stage_index = -1;  // from the manifest; -1 when it cannot be read
  int64_t step = -1;
  int64_t bytes = 0;  // files on disk
};

struct Verification {
  bool ok = true;
  std::vector<std::string> problems;  // each names the file: "rank-00001.h5: truncated ..."
};

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string root);

  // Tags sort in training order: "s01-step-00000120" (stage 1, step 120).
  static std::string tag_for(int64_t stage_index, int64_t step);

  const std::string& root() const { return root_; }
  std::string staging_dir(const std::string& tag) const;    // root/tag.tmp
  std::string committed_dir(const std::string& tag) const;  // root/tag

  // Rank 0, before any rank writes: removes a stale staging directory of the tag, creates it.
  void prepare_staging(const std::string& tag) const;
  // Rank 0, once every rank's file is written and fsynced: writes the manifest into the staging
  // directory (fsynced), renames it to the committed name, fsyncs the root.
  void commit(const std::string& tag, const Manifest& manifest) const;

  // Committed and staging directories, oldest first.
  std::vector<CheckpointEntry> list() const;
  // A caller's own check of a manifest (against its recipe, say): empty when it passes,
  // otherwise the problem.
  using ManifestCheck = std::function<std::string(const Manifest&)>;
  // The manifest parses, every file it names exists with its size and checksum, each buffer's
  // slices cover it exactly once, and `also` (when given) finds nothing.
  Verification verify(const std::string& tag, const ManifestCheck& also = {}) const;
  // The newest committed checkpoint that verifies. Each newer one that does not is appended to
  // *skipped (when given) as "<tag>: <problem>".
  std::optional<std::string> newest_valid(std::vector<std::string>* skipped = nullptr,
                                          const ManifestCheck& also = {}) const;
  // Rank 0, after a commit: removes committed checkpoints beyond the newest keep_last (>= 1) and
  // staging directories older than the newest committed one.
  void prune(int64_t keep_last) const;

 private:
  std::string root_;
};

// Reads elements [begin, begin + count) of a buffer from a committed checkpoint, from whichever
// rank files hold them: a checkpoint written by N ranks is read by M. FormatError when the
// manifest's slices do not cover the range.
at::Tensor read_buffer_range(const std::string& dir, const Manifest& manifest,
                             const std::string& buffer, int64_t begin, int64_t count);

}  // namespace vlm::checkpoint
