#include "data/shard_index.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

ShardIndex example() {
  ShardIndex index;
  index.samples_per_shard = 3;
  SourceEntry source;
  source.name = "captions";
  source.path = "c.json";
  source.format = "json_array";
  source.weight = 0.5;
  source.records = 7;
  source.shard_count = 3;
  index.sources = {source};
  for (const int64_t samples : {3, 0, 1}) {
    ShardEntry shard;
    shard.file = shard_file_name(static_cast<int64_t>(index.shards.size()));
    shard.source = "captions";
    shard.records = 3;
    shard.samples = samples;
    shard.skips[SkipReason::kMissingImage] = 3 - samples;
    index.shards.push_back(shard);
  }
  return index;
}

TEST(ShardIndex, RoundTripsWithTotalsFirst) {
  testing::TempDir dir;
  const std::string json = shard_index_json(example());
  EXPECT_LT(json.find("\"format_version\""), json.find("\"totals\""));
  EXPECT_LT(json.find("\"totals\""), json.find("\"shards\""));
  testing::write_file(dir.file("index.json"), json);
  const ShardIndex index = read_shard_index(dir.path());
  EXPECT_EQ(index.samples_written(), 4);
  EXPECT_EQ(index.records_read(), 9);
  EXPECT_EQ(index.skips()[SkipReason::kMissingImage], 5);
  EXPECT_EQ(index.sources.at(0).weight, 0.5);
  EXPECT_EQ(shard_index_json(index), json);
}

TEST(ShardIndex, OtherVersionIsAClearError) {
  testing::TempDir dir;
  ShardIndex old = example();
  old.format_version = 99;
  testing::write_file(dir.file("index.json"), shard_index_json(old));
  try {
    read_shard_index(dir.path());
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("version 99"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_shard_index(dir.file("none")), IoError);
}

TEST(ShardIndex, LocatorSkipsEmptyShards) {
  const SampleLocator locator(example());
  EXPECT_EQ(locator.total(), 4);
  EXPECT_EQ(locator.locate(2).shard, 0);
  EXPECT_EQ(locator.locate(3).shard, 2);
  EXPECT_EQ(locator.locate(3).position, 0);
  EXPECT_THROW(locator.locate(4), std::out_of_range);
}

}  // namespace
}  // namespace vlm::data
