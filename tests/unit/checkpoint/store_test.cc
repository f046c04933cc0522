// Rank files and the store on real files: round trips, any world size reading what another
// wrote, reproducible bytes, commit/list/verify/newest_valid/prune, damage found and named.
#include "checkpoint/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "checkpoint/rank_file.h"
#include "common/error.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace vlm::checkpoint {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kTotal = 1001;  // odd: no world size divides it

at::Tensor buffer_values(int64_t salt) {
  return at::arange(kTotal, at::kFloat) * 0.5f + static_cast<float>(salt);
}

// The slices rank `rank` of `world` owns, as the engine partitions (padded to the world).
std::vector<state::FlatSlice> rank_slices(int rank, int world) {
  const int64_t slice = (kTotal + world - 1) / world;
  const int64_t begin = std::min<int64_t>(rank * slice, kTotal);
  const int64_t count = std::min<int64_t>(slice, kTotal - begin);
  std::vector<state::FlatSlice> out;
  for (const auto& [name, salt] : {std::pair{"unit/params", 0}, std::pair{"unit/exp_avg", 7}}) {
    out.push_back({name, kTotal, begin, buffer_values(salt).narrow(0, begin, count).clone()});
  }
  return out;
}

// A committed checkpoint written by `world` ranks under root, tag from the step.
Manifest write_checkpoint(const CheckpointStore& store, int64_t step, int world) {
  const std::string tag = CheckpointStore::tag_for(0, step);
  store.prepare_staging(tag);
  Manifest m;
  m.step = step;
  m.world_size = world;
  m.base_model = "init seed 1";
  m.buffers = {{"unit/params", kTotal, {{"w", 0, kTotal}}},
               {"unit/exp_avg", kTotal, {{"w", 0, kTotal}}}};
  for (int r = 0; r < world; ++r) {
    m.files.push_back(write_rank_file(
        files::join(store.staging_dir(tag), "rank-0000" + std::to_string(r) + ".h5"),
        rank_slices(r, world)));
  }
  store.commit(tag, m);
  return m;
}

TEST(RankFile, WritesAndReadsRangesAndIsReproducible) {
  testing::TempDir dir;
  const auto slices = rank_slices(1, 3);
  const FileInfo info = write_rank_file(dir.file("a.h5"), slices);
  write_rank_file(dir.file("b.h5"), slices);
  EXPECT_EQ(files::read_all(dir.file("a.h5")), files::read_all(dir.file("b.h5")));
  EXPECT_EQ(info.name, "a.h5");
  EXPECT_EQ(info.bytes, static_cast<int64_t>(fs::file_size(dir.file("a.h5"))));
  EXPECT_EQ(info.checksum, files::checksum_file(dir.file("a.h5")));
  ASSERT_EQ(info.slices.size(), 2u);
  EXPECT_EQ(info.slices[0].begin, 334);
  std::vector<float> out(10);
  read_rank_range(dir.file("a.h5"), "unit/exp_avg", 400, 10, out.data());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i], (400 + i) * 0.5f + 7);
  EXPECT_THROW(read_rank_range(dir.file("a.h5"), "unit/exp_avg", 100, 10, out.data()), FormatError);
  EXPECT_THROW(read_rank_range(dir.file("a.h5"), "other", 400, 1, out.data()), FormatError);
}

TEST(Store, ACheckpointOfThreeRanksReadsAtTwoAndFour) {
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  write_checkpoint(store, 5, 3);
  const std::string committed = store.committed_dir(CheckpointStore::tag_for(0, 5));
  const Manifest m = read_manifest(files::join(committed, kManifestName));
  for (const int world : {2, 4}) {
    for (int r = 0; r < world; ++r) {
      for (const auto& want : rank_slices(r, world)) {
        const at::Tensor got =
            read_buffer_range(committed, m, want.buffer, want.begin, want.values.numel());
        EXPECT_TRUE(got.equal(want.values)) << want.buffer << " world " << world << " rank " << r;
      }
    }
  }
  EXPECT_THROW(read_buffer_range(committed, m, "unit/params", 1000, 2), FormatError);
}

TEST(Store, ListsVerifiesAndPrunes) {
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  for (int64_t step : {2, 4, 6}) write_checkpoint(store, step, 2);
  store.prepare_staging(CheckpointStore::tag_for(0, 8));  // a save that never finished
  store.prepare_staging(CheckpointStore::tag_for(0, 1));  // an old leftover
  const auto entries = store.list();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_FALSE(entries.back().committed);
  EXPECT_EQ(entries[1].step, 2);
  EXPECT_GT(entries[1].bytes, 0);
  EXPECT_EQ(store.newest_valid(), CheckpointStore::tag_for(0, 6));
  EXPECT_TRUE(store.verify(CheckpointStore::tag_for(0, 4)).ok);

  store.prune(2);
  std::vector<std::string> left;
  for (const auto& e : store.list()) left.push_back(e.tag + (e.committed ? "" : ".tmp"));
  EXPECT_EQ(left, (std::vector<std::string>{"s00-step-00000004", "s00-step-00000006",
                                            "s00-step-00000008.tmp"}));
  EXPECT_THROW(store.prune(0), ConfigError);
}

// Damages the newest of two checkpoints; verify names the file and newest_valid falls back.
void expect_damage_found(const std::function<void(const std::string&)>& damage,
                         const std::string& named) {
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  write_checkpoint(store, 2, 2);
  write_checkpoint(store, 4, 2);
  damage(store.committed_dir(CheckpointStore::tag_for(0, 4)));
  const Verification check = store.verify(CheckpointStore::tag_for(0, 4));
  ASSERT_FALSE(check.ok);
  EXPECT_NE(check.problems.front().find(named), std::string::npos) << check.problems.front();
  std::vector<std::string> skipped;
  EXPECT_EQ(store.newest_valid(&skipped), CheckpointStore::tag_for(0, 2));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("s00-step-00000004: " + named), std::string::npos) << skipped[0];
}

TEST(Store, FindsTruncatedFlippedAndMissingFiles) {
  expect_damage_found(
      [](const std::string& dir) {
        const std::string path = files::join(dir, "rank-00001.h5");
        fs::resize_file(path, fs::file_size(path) - 10);
      },
      "rank-00001.h5: truncated");
  expect_damage_found(
      [](const std::string& dir) {
        const std::string path = files::join(dir, "rank-00000.h5");
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
        f.put('\x5a');
      },
      "rank-00000.h5: checksum");
  expect_damage_found([](const std::string& dir) { fs::remove(files::join(dir, kManifestName)); },
                      "manifest.json: missing");
  expect_damage_found([](const std::string& dir) { fs::remove(files::join(dir, "rank-00000.h5")); },
                      "rank-00000.h5: missing");
}

// Rewrites the checkpoint's manifest after `change` (issue 18, items 13 and 14: manifests that
// verified although resume could not use them).
void rewrite_manifest(const std::string& dir, const std::function<void(std::string&)>& change) {
  const std::string path = files::join(dir, kManifestName);
  std::string text = files::read_all(path);
  change(text);
  files::write_atomically(path, text);
}

TEST(Store, OverlappingSlicesAndOutOfRangeCountersFailVerification) {
  // A duplicated slice at the end: the coverage check used to stop once it reached the total.
  expect_damage_found(
      [](const std::string& dir) {
        const std::string path = files::join(dir, kManifestName);
        Manifest m = read_manifest(path);
        m.files.back().slices.push_back(m.files.back().slices.back());
        files::write_atomically(path, to_json(m));
      },
      "unit/exp_avg: the files' slices overlap elements at 501");
  // A step near 2^63: resume's arithmetic on it overflowed.
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  write_checkpoint(store, 4, 2);
  rewrite_manifest(store.committed_dir(CheckpointStore::tag_for(0, 4)), [](std::string& text) {
    const size_t at = text.find("\"step\": 4");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 9, "\"step\": 9223372036854775000");
  });
  const Verification check = store.verify(CheckpointStore::tag_for(0, 4));
  ASSERT_FALSE(check.ok);
  EXPECT_NE(check.problems.front().find("step 9223372036854775000: over 2^53"), std::string::npos)
      << check.problems.front();
}

// The caller's check (Checkpointer: the recipe's stages) can refuse a checkpoint that verifies.
TEST(Store, ACallersCheckSkipsACheckpoint) {
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  write_checkpoint(store, 2, 2);
  write_checkpoint(store, 4, 2);
  const CheckpointStore::ManifestCheck not_step_4 = [](const Manifest& m) {
    return m.step == 4 ? std::string("stage_index 7 but the recipe has 2 stage(s)") : "";
  };
  std::vector<std::string> skipped;
  EXPECT_EQ(store.newest_valid(&skipped, not_step_4), CheckpointStore::tag_for(0, 2));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("recipe has 2 stage(s)"), std::string::npos) << skipped[0];
}

TEST(Store, CommittingTheSameTagAgainReplacesIt) {
  testing::TempDir dir;
  const CheckpointStore store(dir.path());
  write_checkpoint(store, 3, 2);
  write_checkpoint(store, 3, 3);
  const std::string committed = store.committed_dir(CheckpointStore::tag_for(0, 3));
  EXPECT_EQ(read_manifest(files::join(committed, kManifestName)).world_size, 3);
  EXPECT_TRUE(store.verify(CheckpointStore::tag_for(0, 3)).ok);
}

}  // namespace
}  // namespace vlm::checkpoint
