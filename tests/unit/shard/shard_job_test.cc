#include "data/shard_job.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "data/shard_reader.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

using data::SkipReason;
using testing::caption_record;
using testing::text_record;

// Two sources: a JSON array with every kind of bad record, and JSON Lines (text-only plus one
// missing image), sharded 4 records to a shard.
class ShardJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string images = dir.file("corpus/images");
    std::filesystem::create_directories(images + "/00000");
    for (int i = 0; i < 6; ++i) {
      testing::write_file(images + "/00000/" + std::to_string(i) + ".jpg",
                          testing::small_jpeg(8, 8, i));
    }
    testing::write_file(images + "/not_an_image.jpg", "hello");
    // Valid images outside the root: skipped as outside, never read.
    testing::write_file(dir.file("corpus/outside.jpg"), testing::small_jpeg(8, 8));
    std::vector<std::string> records;
    for (int i = 0; i < 6; ++i) {
      records.push_back(
          caption_record("c" + std::to_string(i), "00000/" + std::to_string(i) + ".jpg"));
    }
    records.push_back(text_record("t0"));
    records.push_back(R"({"id": "m0", "conversations": [}])");  // brackets balance, not JSON
    records.push_back(R"({"id": "m1" "conversations": []})");
    records.push_back(caption_record("missing0", "00000/none.jpg"));
    records.push_back(caption_record("undecodable0", "not_an_image.jpg"));
    records.push_back(caption_record("outside0", "../outside.jpg"));
    records.push_back(caption_record("outside1", dir.file("corpus/outside.jpg")));
    records.push_back(R"({"id": "empty0", "conversations": []})");
    records.push_back(
        R"({"id": "order0", "conversations": [{"from": "gpt", "value": "a"}, {"from": "gpt", "value": "b"}]})");
    records.push_back(
        R"({"id": "mismatch0", "image": "00000/1.jpg", "conversations": [)"
        R"({"from": "human", "value": "<image> and <image>"}, {"from": "gpt", "value": "b"}]})");
    records.push_back(text_record("t1"));
    testing::write_json_array(dir.file("corpus/captions.json"), records);
    testing::write_json_lines(dir.file("corpus/chat.jsonl"),
                              {text_record("l0"), text_record("l1"), "{broken",
                               caption_record("l3", "00000/gone.jpg"), text_record("l4")});
    options.sources = {parse_source_spec(dir.file("corpus/captions.json"), images),
                       parse_source_spec(dir.file("corpus/chat.jsonl") + ":weight=0.25", images)};
    options.out_dir = dir.file("shards");
    options.samples_per_shard = 4;
  }

  ShardJobResult run() {
    const auto comm = cluster::make_local_communicator();
    return run_shard_job(options, *comm);
  }

  testing::TempDir dir;
  ShardJobOptions options;
};

TEST_F(ShardJobTest, CountsEverySkipByReasonAndLosesNothing) {
  const ShardJobResult result = run();
  const data::ShardIndex& index = result.index;
  EXPECT_EQ(index.records_read(), 17 + 5);
  const data::SkipCounts skips = index.skips();
  EXPECT_EQ(skips[SkipReason::kMalformedJson], 2 + 1);
  EXPECT_EQ(skips[SkipReason::kMissingImage], 1 + 1);
  EXPECT_EQ(skips[SkipReason::kUndecodableImage], 1);
  EXPECT_EQ(skips[SkipReason::kImageOutsideRoot], 2);
  EXPECT_EQ(skips[SkipReason::kEmptyConversation], 1);
  EXPECT_EQ(skips[SkipReason::kBadTurnOrder], 1);
  EXPECT_EQ(skips[SkipReason::kPlaceholderMismatch], 1);
  EXPECT_EQ(index.samples_written(), 6 + 2 + 3);
  EXPECT_EQ(index.samples_written() + skips.total(), index.records_read());

  // Shards never mix sources: 17 records -> 5 shards, 5 -> 2.
  ASSERT_EQ(index.shards.size(), 7u);
  EXPECT_EQ(index.sources.at(1).first_shard, 5);
  EXPECT_EQ(index.sources.at(1).weight, 0.25);
  EXPECT_EQ(index.sources.at(0).name, "captions");
  EXPECT_EQ(index.shards.at(4).records, 1);
  EXPECT_EQ(result.shards_written, 7);

  // The files agree with the index.
  const data::ShardReader first(files::join(options.out_dir, "shard-000000.h5"));
  ASSERT_EQ(first.size(), 4);
  EXPECT_EQ(first.read(3).id, "c3");
  EXPECT_EQ(first.read(3).images.at(0).bytes,
            testing::read_file(dir.file("corpus/images/00000/3.jpg")));
  const data::ShardReader chat(files::join(options.out_dir, "shard-000005.h5"));
  EXPECT_EQ(chat.header().source, "chat");
  EXPECT_EQ(chat.read(0).source, "chat");
  EXPECT_EQ(chat.read(0).record_json, text_record("l0"));
  const data::ShardIndex stored = data::read_shard_index(options.out_dir);
  EXPECT_EQ(data::shard_index_json(stored), data::shard_index_json(index));
  const data::SampleLengths lengths = data::read_sample_lengths(options.out_dir, stored);
  EXPECT_EQ(lengths.text_length.size(), 11u);
  EXPECT_EQ(lengths.image_count.at(0), 1);
  EXPECT_EQ(lengths.image_count.at(6), 0);  // t0

  // skipped.jsonl: one line per skip, in record order, with id and reason.
  const std::string skipped = testing::read_file(files::join(options.out_dir, "skipped.jsonl"));
  EXPECT_EQ(std::count(skipped.begin(), skipped.end(), '\n'), skips.total());
  EXPECT_NE(skipped.find(R"("id":"outside0","reason":"image_outside_root")"), std::string::npos)
      << skipped;
  EXPECT_LT(skipped.find("\"m0\""), skipped.find("\"mismatch0\""));
}

TEST_F(ShardJobTest, RerunKeepsFinishedShardsAndRedoesTheRest) {
  run();
  const std::string index_path = files::join(options.out_dir, "index.json");
  const std::string index = testing::read_file(index_path);
  const std::string shard2 = testing::read_file(files::join(options.out_dir, "shard-000002.h5"));

  ShardJobResult again = run();
  EXPECT_EQ(again.shards_written, 0);
  EXPECT_EQ(again.shards_kept, 7);
  EXPECT_EQ(testing::read_file(index_path), index);

  // A lost shard and a leftover partial file: the shard is redone, the leftover removed.
  std::filesystem::remove(files::join(options.out_dir, "shard-000002.h5"));
  testing::write_file(files::join(options.out_dir, "shard-000003.h5.tmp"), "partial");
  testing::write_file(files::join(options.out_dir, "shard-000009.h5"), "from a bigger plan");
  again = run();
  EXPECT_EQ(again.shards_written, 1);
  EXPECT_EQ(testing::read_file(files::join(options.out_dir, "shard-000002.h5")), shard2);
  EXPECT_FALSE(files::exists(files::join(options.out_dir, "shard-000003.h5.tmp")));
  EXPECT_FALSE(files::exists(files::join(options.out_dir, "shard-000009.h5")));
  EXPECT_EQ(testing::read_file(index_path), index);
}

TEST_F(ShardJobTest, ChangedInputRewritesItsShards) {
  run();
  testing::write_json_lines(dir.file("corpus/chat.jsonl"), {text_record("l0", "changed")});
  const ShardJobResult again = run();
  EXPECT_EQ(again.shards_kept, 5);
  EXPECT_EQ(again.shards_written, 1);
  EXPECT_EQ(again.index.shards.size(), 6u);
  EXPECT_FALSE(files::exists(files::join(options.out_dir, "shard-000006.h5")));
}

TEST_F(ShardJobTest, StrictMakesTheFirstSkipAnErrorNamingTheRecord) {
  options.strict = true;
  try {
    run();
    FAIL() << "--strict accepted a bad record";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("record 7"), std::string::npos) << message;
    EXPECT_NE(message.find("malformed_json"), std::string::npos) << message;
  }
  EXPECT_FALSE(files::exists(files::join(options.out_dir, "index.json")));
}

TEST_F(ShardJobTest, MissingInputAndDuplicateNamesAreUserErrors) {
  options.sources.push_back(parse_source_spec(dir.file("corpus/captions.json"), ""));
  EXPECT_THROW(run(), ConfigError);
  options.sources = {parse_source_spec(dir.file("corpus/none.json"), "")};
  EXPECT_THROW(run(), IoError);
}

TEST(SourceSpec, ParsesTrailingOptions) {
  const SourceSpec plain = parse_source_spec("data/llava_v1_5_mix665k.json", "");
  EXPECT_EQ(plain.name, "llava_v1_5_mix665k");
  EXPECT_EQ(plain.weight, 1.0);
  EXPECT_EQ(plain.image_root, "data");
  const SourceSpec full =
      parse_source_spec("a:b/x.jsonl:weight=0.5:name=text:image_root=/img", "r");
  EXPECT_EQ(full.path, "a:b/x.jsonl");
  EXPECT_EQ(full.name, "text");
  EXPECT_EQ(full.weight, 0.5);
  EXPECT_EQ(full.image_root, "/img");
  EXPECT_EQ(parse_source_spec("x.json", "root").image_root, "root");
  EXPECT_THROW(parse_source_spec("x.json:weight=-1", ""), ConfigError);
  EXPECT_THROW(parse_source_spec("x.json:weight=abc", ""), ConfigError);
  EXPECT_THROW(parse_source_spec(":weight=1", ""), ConfigError);
}

}  // namespace
}  // namespace vlm::data
