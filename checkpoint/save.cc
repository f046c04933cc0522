#include "checkpoint/save.h"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <utility>

#include "checkpoint/rank_file.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::checkpoint {

void prepare_save(const CheckpointStore& store, const std::string& tag,
                  cluster::Communicator& comm) {
  if (comm.rank() == 0) {
    files::make_directories(store.root());
    store.prepare_staging(tag);
  }
  comm.barrier("checkpoint " + tag);
}

PendingSave::PendingSave(const CheckpointStore& store, std::string tag, Manifest manifest,
                         std::vector<state::FlatSlice> slices, cluster::Communicator& comm,
                         double copy_s)
    : store_(store),
      tag_(std::move(tag)),
      manifest_(std::move(manifest)),
      slices_(std::move(slices)),
      comm_(comm),
      copy_s_(copy_s) {
  const std::string path =
      files::join(store_.staging_dir(tag_), fmt::format("rank-{:05d}.h5", comm_.rank()));
  writer_ = std::thread([this, path] { write(path); });
}

PendingSave::~PendingSave() {
  if (writer_.joinable()) writer_.join();
}

void PendingSave::write(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  try {
    file_ = write_rank_file(path, slices_);
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  write_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  slices_.clear();
  done_ = true;
}

bool PendingSave::try_commit(bool wait, int64_t keep_last) {
  if (wait && writer_.joinable()) writer_.join();
  std::vector<int64_t> state = {done_ ? 1 : 0, error_.empty() ? 0 : 1};
  comm_.all_reduce(state, cluster::ReduceOp::kSum);  // ranks written, ranks failed
  if (state[0] < comm_.size() && state[1] == 0) return false;
  if (writer_.joinable()) writer_.join();
  VLM_CHECK(state[1] == 0, IoError, "checkpoint ", tag_,
            " not saved: ", error_.empty() ? "another rank failed to write its file" : error_);
  const std::vector<std::string> entries = comm_.gather(to_json(file_), 0);
  if (comm_.rank() != 0) return true;
  // What a synchronous save costs (rank 0's share): vlm-launch sizes Slurm's warning from it.
  manifest_.counters["save_seconds"] = copy_s_ + write_s_;
  for (size_t r = 0; r < entries.size(); ++r) {
    manifest_.files.push_back(parse_file_info(entries[r], "rank " + std::to_string(r)));
  }
  store_.commit(tag_, manifest_);
  store_.prune(keep_last);
  return true;
}

}  // namespace vlm::checkpoint
