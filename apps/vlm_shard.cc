// vlm-shard: turns corpora (LLaVA JSON arrays, VoRA JSON Lines) into HDF5 shards, under mpirun
// or alone. Rank 0 prints the totals and the skips per reason.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "apps/main_support.h"
#include "cluster/communicator.h"
#include "common/error.h"
#include "common/log.h"
#include "data/shard_index.h"
#include "data/shard_job.h"

namespace {

using vlm::data::ShardJobOptions;
using vlm::data::ShardJobResult;

void print_summary(const ShardJobResult& result, const ShardJobOptions& options, int ranks) {
  const vlm::data::ShardIndex& index = result.index;
  const vlm::data::SkipCounts skips = index.skips();
  const double rate = result.seconds > 0 ? index.records_read() / result.seconds : 0.0;
  std::printf("%-28s %12s\n", "skip reason", "records");
  for (const auto reason : vlm::data::kAllSkipReasons) {
    std::printf("%-28s %12lld\n", vlm::data::skip_reason_name(reason),
                static_cast<long long>(skips[reason]));
  }
  std::printf("%-28s %12lld\n", "skipped", static_cast<long long>(skips.total()));
  std::printf("%-28s %12lld\n", "samples written", static_cast<long long>(index.samples_written()));
  std::printf("%-28s %12lld\n", "records read (= both)",
              static_cast<long long>(index.records_read()));
  std::printf(
      "vlm-shard: %zu shard(s) in %s (%lld written, %lld kept from an earlier run), "
      "%.3f s, %.0f records/s, %d rank(s); skipped ids in %s/%s\n",
      index.shards.size(), options.out_dir.c_str(), static_cast<long long>(result.shards_written),
      static_cast<long long>(result.shards_kept), result.seconds, rate, ranks,
      options.out_dir.c_str(), vlm::data::kSkippedListFile);
}

int verify(const std::string& dir) {
  const vlm::data::ShardIndex index = vlm::data::verify_shard_folder(dir);
  std::printf("vlm-shard: %s is complete: %zu shard(s), %lld samples, format version %lld\n",
              dir.c_str(), index.shards.size(), static_cast<long long>(index.samples_written()),
              static_cast<long long>(index.format_version));
  return vlm::apps::kExitOk;
}

int run(int argc, char** argv) {
  ShardJobOptions options;
  std::vector<std::string> inputs;
  std::string image_root;
  CLI::App app{
      "Shards corpora into HDF5 files for training; run it under mpirun -np N for N writers."};
  app.add_option("--input", inputs,
                 "corpus file (.json array or .jsonl), repeatable; "
                 "PATH[:name=NAME][:weight=W][:image_root=DIR]");
  app.add_option("--image-root", image_root,
                 "folder the records' image paths are relative to (default: each input's folder)");
  app.add_option("--out", options.out_dir, "output folder for shards and index.json");
  app.add_option("--samples-per-shard", options.samples_per_shard,
                 "records per shard (valid or not)");
  app.add_flag("--strict", options.strict, "fail on the first unusable record instead of skipping");
  app.add_option("--max-record-bytes", options.max_record_bytes,
                 "skip a record longer than this (oversized_record)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--max-image-bytes", options.image_limits.max_file_bytes,
                 "skip a record whose image file is larger (oversized_image)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--max-image-pixels", options.image_limits.max_pixels,
                 "skip a record whose image header declares more pixels (oversized_image)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 31))
      ->capture_default_str();
  bool follow_symlinks = false;
  app.add_flag("--follow-symlinks", follow_symlinks,
               "follow symbolic links inside an image root that lead out of it (links you made, "
               "as playground/data/coco -> /datasets/coco); records' own paths stay confined");
  std::string verify_dir;
  app.add_option("--verify", verify_dir,
                 "check a shard folder against its index.json (format version, checksums) "
                 "and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }
  if (!verify_dir.empty()) return verify(verify_dir);
  if (follow_symlinks) options.image_links = vlm::data::ImageLinks::kFollowed;
  VLM_CHECK(!inputs.empty() && !options.out_dir.empty(), ConfigError,
            "--input and --out are required (or --verify DIR); see --help");
  for (const std::string& input : inputs) {
    options.sources.push_back(vlm::data::parse_source_spec(input, image_root));
  }

  auto comm = vlm::cluster::open_communicator();
  vlm::log::set_rank(comm->rank(), comm->size());
  std::exception_ptr failure;
  bool peer_failed = false;
  try {
    const ShardJobResult result = vlm::data::run_shard_job(options, *comm);
    if (comm->is_root()) print_summary(result, options, comm->size());
  } catch (const vlm::data::PeerFailed&) {
    peer_failed = true;  // rank 0 prints the story
  } catch (...) {
    failure = std::current_exception();
  }
  // The job's failures are agreed by every rank before anyone throws, so MPI can shut down
  // cleanly everywhere before rank 0 reports.
  comm.reset();
  if (failure) std::rethrow_exception(failure);
  if (peer_failed) return vlm::apps::kExitError;
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, run); }
