// Hostile and odd inputs to vlm-shard's readers (issue 18): each is refused or skipped and
// counted, quickly and within bounded memory, never a hang, a crash or the end of the job.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/process_memory.h"
#include "data/image_root.h"
#include "data/record_check.h"
#include "data/record_stream.h"
#include "data/shard_index.h"
#include "data/shard_job.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class HostileImages : public ::testing::Test {
 protected:
  void SetUp() override {
    root = dir.file("root");
    std::filesystem::create_directories(root);
    testing::write_file(root + "/ok.jpg", testing::small_jpeg(8, 6));
  }
  testing::TempDir dir;
  std::string root;
};

// Item 1: open() of a FIFO waited for a writer forever; now it is refused at once.
TEST_F(HostileImages, AFifoIsRefusedWithoutWaiting) {
  ASSERT_EQ(::mkfifo((root + "/fifo.jpg").c_str(), 0644), 0);
  const ImageRoot images(root);
  std::string bytes;
  std::string error;
  const auto start = Clock::now();
  EXPECT_EQ(images.read("fifo.jpg", bytes, error), ImageRoot::Status::kUnreadable);
  EXPECT_LT(seconds_since(start), 1.0);
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

// Item 2: a 3 GiB sparse file was read whole (24 s, 3 GB resident); its size alone refuses it.
TEST_F(HostileImages, AHugeFileIsRefusedFromItsSize) {
  const std::string path = root + "/huge.jpg";
  testing::write_file(path, testing::small_jpeg(8, 8));
  std::filesystem::resize_file(path, uintmax_t{3} << 30);
  const ImageRoot images(root);
  std::string bytes;
  std::string error;
  const int64_t resident_before = process_memory::resident_bytes();
  const auto start = Clock::now();
  EXPECT_EQ(images.read("huge.jpg", bytes, error), ImageRoot::Status::kTooLarge);
  EXPECT_LT(seconds_since(start), 1.0);
  EXPECT_LT(process_memory::resident_bytes() - resident_before, int64_t{64} << 20);
  EXPECT_NE(error.find("data.max_image_bytes"), std::string::npos) << error;
  std::vector<EncodedImage> loaded;
  std::string detail;
  EXPECT_EQ(load_images(images, {"huge.jpg"}, loaded, detail), SkipReason::kOversizedImage);
  // A smaller cap, as a recipe may set it.
  const ImageRoot strict(root, ImageLimits{100, ImageLimits{}.max_pixels});
  EXPECT_EQ(strict.read("ok.jpg", bytes, error), ImageRoot::Status::kTooLarge);
}

// Item 3: a 609-byte JPEG declaring 26000 x 26000 pixels was accepted and decoded in training
// (4.2 GB); its header now refuses it in vlm-shard.
TEST_F(HostileImages, AnImageDeclaringTooManyPixelsIsSkippedByItsHeader) {
  testing::write_file(root + "/bomb.jpg", testing::jpeg_declaring(26000, 26000));
  const ImageRoot images(root);
  std::vector<EncodedImage> loaded;
  std::string detail;
  EXPECT_EQ(load_images(images, {"bomb.jpg"}, loaded, detail), SkipReason::kOversizedImage);
  EXPECT_NE(detail.find("26000 x 26000"), std::string::npos) << detail;
  EXPECT_NE(detail.find("data.max_image_pixels"), std::string::npos) << detail;
  EXPECT_FALSE(load_images(images, {"ok.jpg"}, loaded, detail)) << detail;
}

// Item 4: a record of any length was held whole; the stream keeps at most the cap of it.
TEST(HostileRecords, TheStreamKeepsAtMostTheCapOfAHugeRecord) {
  testing::TempDir dir;
  const std::string huge = testing::caption_record("big", "a.jpg", std::string(8 << 20, 'x'));
  for (const CorpusFormat format : {CorpusFormat::kJsonArray, CorpusFormat::kJsonLines}) {
    const std::string path = dir.file(format == CorpusFormat::kJsonLines ? "c.jsonl" : "c.json");
    const std::vector<std::string> records = {testing::text_record("a"), huge,
                                              testing::text_record("b")};
    if (format == CorpusFormat::kJsonLines) {
      testing::write_json_lines(path, records);
    } else {
      testing::write_json_array(path, records);
    }
    RecordStream stream(path, format);
    stream.set_max_record_bytes(1 << 20);
    std::string text;
    uint64_t offset = 0;
    ASSERT_TRUE(stream.next(text, offset));
    EXPECT_EQ(text, testing::text_record("a"));
    ASSERT_TRUE(stream.next(text, offset));
    EXPECT_LE(text.size(), size_t{1} << 20);
    EXPECT_EQ(stream.last_record_bytes(), huge.size());
    ASSERT_TRUE(stream.next(text, offset));  // the next record is intact
    EXPECT_EQ(text, testing::text_record("b"));
  }
}

// Item 6: index.json may name only files in its own folder.
TEST(HostileShardIndex, ShardNamesOutsideTheFolderAreRefused) {
  for (const std::string name : {"../other/shard-000000.h5", "/etc/passwd", "sub/x.h5", ".."}) {
    testing::TempDir dir;
    ShardIndex index;
    index.samples_per_shard = 4;
    ShardEntry shard;
    shard.file = name;
    index.shards.push_back(shard);
    testing::write_file(dir.file("index.json"), shard_index_json(index));
    try {
      read_shard_index(dir.path());
      ADD_FAILURE() << name << " was accepted";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("not a file name in the shard folder"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace vlm::data

namespace vlm::data {
namespace {

// Items 4 and 7 in the job: an oversized record, and a record whose bytes are not UTF-8 (the skip
// detail quoting it ended the whole job), are skipped and counted; the job writes its index.
TEST(HostileCorpus, OversizedAndInvalidUtf8RecordsAreSkippedAndCounted) {
  testing::TempDir dir;
  const std::string images = dir.file("images");
  std::filesystem::create_directories(images);
  testing::write_file(images + "/a.jpg", testing::small_jpeg(8, 8));
  testing::write_file(images + "/bomb.jpg", testing::jpeg_declaring(26000, 26000));
  std::vector<std::string> records = {testing::caption_record("good", "a.jpg"),
                                      testing::text_record("big", std::string(2 << 20, 'y')),
                                      testing::text_record("latin1 caf\xE9 \xFF\xFE"),
                                      testing::caption_record("bomb", "bomb.jpg"),
                                      testing::text_record("good2")};
  testing::write_json_lines(dir.file("c.jsonl"), records);
  ShardJobOptions options;
  options.sources = {parse_source_spec(dir.file("c.jsonl"), images)};
  options.out_dir = dir.file("shards");
  options.max_record_bytes = 1 << 20;
  const auto comm = cluster::make_local_communicator();
  const ShardJobResult result = run_shard_job(options, *comm);
  const data::SkipCounts skips = result.index.skips();
  EXPECT_EQ(result.index.records_read(), 5);
  EXPECT_EQ(skips[data::SkipReason::kOversizedRecord], 1);
  EXPECT_EQ(skips[data::SkipReason::kOversizedImage], 1);
  EXPECT_EQ(skips[data::SkipReason::kMalformedJson], 1);  // JSON strings must be UTF-8
  EXPECT_EQ(result.index.samples_written(), 2);
  EXPECT_TRUE(files::exists(files::join(options.out_dir, "index.json")));
  const std::string skipped = testing::read_file(files::join(options.out_dir, "skipped.jsonl"));
  EXPECT_NE(skipped.find("oversized_record"), std::string::npos) << skipped;
}

}  // namespace
}  // namespace vlm::data
