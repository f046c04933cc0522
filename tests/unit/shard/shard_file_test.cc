#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "data/shard_reader.h"
#include "data/shard_writer.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

using testing::TempDir;

ShardHeader header() {
  return {"captions", "00112233aabbccdd", 40, 20, "format_version=1;image_root=x"};
}

ShardSample sample(int64_t record, int images) {
  ShardSample s;
  s.record_index = record;
  s.id = "id-" + std::to_string(record);
  s.record_json = testing::text_record(s.id);
  s.text_length = record % 7;
  for (int i = 0; i < images; ++i) {
    s.images.push_back({testing::small_jpeg(4 + i, 3, static_cast<int>(record)), 4 + i, 3});
  }
  return s;
}

// Samples 0..n-1 with 0, 1 or 2 images, and two skips.
void write_shard(const std::string& path, int n) {
  ShardWriter writer(path, header());
  for (int i = 0; i < n; ++i) writer.add(sample(40 + i, i % 3));
  writer.add_skipped({61, "bad-1", SkipReason::kMissingImage, "a/b.jpg: No such file"});
  writer.add_skipped({62, "", SkipReason::kMalformedJson, "invalid JSON"});
  writer.finish();
}

TEST(ShardFile, RoundTripsEverySampleField) {
  TempDir dir;
  const std::string path = dir.file("shard-000000.h5");
  write_shard(path, 11);
  EXPECT_FALSE(files::exists(path + ".tmp"));
  const ShardReader reader(path);
  EXPECT_EQ(reader.header(), header());
  ASSERT_EQ(reader.size(), 11);
  for (int i = 0; i < 11; ++i) {
    const ShardSample expected = sample(40 + i, i % 3);
    const ShardSample got = reader.read(i);
    EXPECT_EQ(got.record_index, expected.record_index);
    EXPECT_EQ(got.id, expected.id);
    EXPECT_EQ(got.source, "captions");
    EXPECT_EQ(got.record_json, expected.record_json);
    EXPECT_EQ(got.text_length, expected.text_length);
    ASSERT_EQ(got.images.size(), expected.images.size());
    for (size_t k = 0; k < got.images.size(); ++k) {
      EXPECT_EQ(got.images[k].bytes, expected.images[k].bytes);
      EXPECT_EQ(got.images[k].width, expected.images[k].width);
    }
    EXPECT_EQ(reader.image_counts()[static_cast<size_t>(i)], i % 3);
    EXPECT_EQ(reader.text_lengths()[static_cast<size_t>(i)], (40 + i) % 7);
  }
  EXPECT_THROW(reader.read(11), std::out_of_range);
  const auto skipped = reader.skipped();
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0].record_index, 61);
  EXPECT_EQ(skipped[0].id, "bad-1");
  EXPECT_EQ(skipped[0].reason, SkipReason::kMissingImage);
  EXPECT_EQ(skipped[1].reason, SkipReason::kMalformedJson);
  EXPECT_EQ(skipped[1].detail, "invalid JSON");
}

TEST(ShardFile, EmptyShardIsValid) {
  TempDir dir;
  ShardWriter writer(dir.file("e.h5"), header());
  writer.finish();
  const ShardReader reader(dir.file("e.h5"));
  EXPECT_EQ(reader.size(), 0);
  EXPECT_TRUE(reader.skipped().empty());
}

// Large byte columns go through several appends and chunks.
TEST(ShardFile, LargeImagesSpanManyChunks) {
  TempDir dir;
  ShardWriter writer(dir.file("big.h5"), header());
  ShardSample big = sample(1, 0);
  std::string bytes = testing::small_jpeg(8, 8);
  bytes.resize(3 * 1024 * 1024 + 17, 'x');
  for (int i = 0; i < 3; ++i) {
    big.images = {{bytes + std::to_string(i), 8, 8}};
    writer.add(big);
  }
  writer.finish();
  const ShardReader reader(dir.file("big.h5"));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(reader.read(i).images.at(0).bytes, bytes + std::to_string(i));
}

// No timestamps: the same content written at another time is the same file, byte for byte.
TEST(ShardFile, SameContentGivesIdenticalBytes) {
  TempDir dir;
  write_shard(dir.file("a.h5"), 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  write_shard(dir.file("b.h5"), 9);
  EXPECT_EQ(testing::read_file(dir.file("a.h5")), testing::read_file(dir.file("b.h5")));
}

TEST(ShardFile, UnfinishedWriterLeavesNothing) {
  TempDir dir;
  {
    ShardWriter writer(dir.file("x.h5"), header());
    writer.add(sample(1, 1));
    EXPECT_TRUE(files::exists(dir.file("x.h5.tmp")));
  }
  EXPECT_FALSE(files::exists(dir.file("x.h5.tmp")));
  EXPECT_FALSE(files::exists(dir.file("x.h5")));
}

TEST(ShardFile, VersionMismatchNamesTheFileAndBothVersions) {
  TempDir dir;
  const std::string path = dir.file("old.h5");
  {
    ShardWriter writer(path, header(), kShardFormatVersion + 1);
    writer.finish();
  }
  try {
    ShardReader reader(path);
    FAIL() << "opened a shard of another format version";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("version " + std::to_string(kShardFormatVersion + 1)), std::string::npos)
        << message;
    EXPECT_NE(message.find("reads version " + std::to_string(kShardFormatVersion)),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(shard_format_version(path), kShardFormatVersion + 1);
}

TEST(ShardFile, NotAShardIsAFormatErrorAndMissingAnIoError) {
  TempDir dir;
  testing::write_file(dir.file("junk.h5"), "not hdf5 at all");
  EXPECT_THROW(ShardReader(dir.file("junk.h5")), FormatError);
  EXPECT_THROW(ShardReader(dir.file("none.h5")), IoError);
}

}  // namespace
}  // namespace vlm::data
