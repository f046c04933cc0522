// One checkpoint being saved across ranks. Each rank writes its own file into the staging
// directory, on a thread while training goes on; once every rank has written, rank 0 gathers
// the ranks' file entries, writes the manifest and renames the directory into place
// (CheckpointStore::commit). Every call is collective: all ranks make it at the same step.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/manifest.h"
#include "checkpoint/store.h"
#include "cluster/communicator.h"
#include "state/flat_slice.h"

namespace vlm::checkpoint {

// Rank 0 creates the staging directory of `tag` (and the store's root); the others wait for it.
void prepare_save(const CheckpointStore& store, const std::string& tag,
                  cluster::Communicator& comm);

class PendingSave {
 public:
  // Starts writing this rank's slices into the staging directory of `tag` on a thread.
  // manifest: everything but the files; copy_s: how long the loop was blocked taking the slices.
  PendingSave(const CheckpointStore& store, std::string tag, Manifest manifest,
              std::vector<state::FlatSlice> slices, cluster::Communicator& comm, double copy_s);
  ~PendingSave();
  PendingSave(const PendingSave&) = delete;
  PendingSave& operator=(const PendingSave&) = delete;

  // Commits once every rank's file is written, waiting for this rank's when `wait`; false when
  // a rank is still writing. Then prunes the store to the newest keep_last. IoError when any
  // rank failed to write (the staging directory stays behind for prune to remove).
  bool try_commit(bool wait, int64_t keep_last);

  // After a commit, on rank 0: the manifest written (with every rank's file and the counter
  // "save_seconds", the copy and write time of rank 0) and the checkpoint's directory.
  const Manifest& committed() const { return manifest_; }
  std::string committed_dir() const { return store_.committed_dir(tag_); }

 private:
  void write(const std::string& path);

  CheckpointStore store_;
  std::string tag_;
  Manifest manifest_;
  std::vector<state::FlatSlice> slices_;
  cluster::Communicator& comm_;
  double copy_s_ = 0.0;
  double write_s_ = 0.0;
  FileInfo file_;
  std::string error_;  // the writer's, when it failed
  std::atomic<bool> done_{false};
  std::thread writer_;  // last: starts once the rest is set
};

}  // namespace vlm::checkpoint
