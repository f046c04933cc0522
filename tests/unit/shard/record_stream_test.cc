#include "data/record_stream.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

using testing::TempDir;
using testing::write_file;

std::vector<std::string> all_records(const std::string& path, CorpusFormat format,
                                     uint64_t offset = 0) {
  RecordStream stream(path, format, offset);
  std::vector<std::string> records;
  std::string record;
  uint64_t at = 0;
  while (stream.next(record, at)) records.push_back(record);
  return records;
}

TEST(RecordStream, SplitsAnArrayAtTopLevelCommasOnly) {
  TempDir dir;
  const std::string path = dir.file("a.json");
  // Commas, brackets and escaped quotes inside strings; nesting; odd white space.
  write_file(path,
             " [ {\"a\": \"x,]}\\\"[\", \"b\": [1, {\"c\": [2,3]}]} ,\n\t"
             "{\"id\": \"\\\\\"}\r\n, 17 ,\"s\\\"]\"]  \n");
  const auto records = all_records(path, CorpusFormat::kJsonArray);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0], "{\"a\": \"x,]}\\\"[\", \"b\": [1, {\"c\": [2,3]}]}");
  EXPECT_EQ(records[1], "{\"id\": \"\\\\\"}");
  EXPECT_EQ(records[2], "17");
  EXPECT_EQ(records[3], "\"s\\\"]\"");
}

TEST(RecordStream, EmptyArrayHasNoRecords) {
  TempDir dir;
  write_file(dir.file("e.json"), "[ ]\n");
  EXPECT_TRUE(all_records(dir.file("e.json"), CorpusFormat::kJsonArray).empty());
}

TEST(RecordStream, BrokenArrayStructureIsAFormatErrorNamingTheFile) {
  TempDir dir;
  for (const char* text :
       {"", "{\"a\": 1}", "[{\"a\": 1}", "[{\"a\": \"open]", "[1] x", "[{\"a\": 1}}]"}) {
    write_file(dir.file("b.json"), text);
    try {
      all_records(dir.file("b.json"), CorpusFormat::kJsonArray);
      FAIL() << "no error for: " << text;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("b.json"), std::string::npos) << e.what();
    }
  }
}

TEST(RecordStream, JsonLinesSkipsBlankLinesAndTrimsCarriageReturns) {
  TempDir dir;
  const std::string path = dir.file("l.jsonl");
  write_file(path, "{\"a\": 1}\r\n\n   \n{\"b\": \"x\\n\"}\nnot json\n{\"c\": 3}");
  const auto records = all_records(path, CorpusFormat::kJsonLines);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0], "{\"a\": 1}");
  EXPECT_EQ(records[1], "{\"b\": \"x\\n\"}");
  EXPECT_EQ(records[2], "not json");
  EXPECT_EQ(records[3], "{\"c\": 3}");
}

// The planning pass's offsets restart a stream exactly at records K, 2K, ...; the checksum is
// the whole file's.
TEST(RecordStream, ScanOffsetsRestartStreamsAtShardBoundaries) {
  TempDir dir;
  std::vector<std::string> records;
  for (int i = 0; i < 23; ++i) records.push_back(testing::text_record("r" + std::to_string(i)));
  for (const CorpusFormat format : {CorpusFormat::kJsonArray, CorpusFormat::kJsonLines}) {
    const std::string path = dir.file(format == CorpusFormat::kJsonArray ? "c.json" : "c.jsonl");
    if (format == CorpusFormat::kJsonArray) {
      testing::write_json_array(path, records);
    } else {
      testing::write_json_lines(path, records);
    }
    const CorpusScan scan = scan_corpus(path, format, 5);
    EXPECT_EQ(scan.records, 23);
    ASSERT_EQ(scan.shard_starts.size(), 5u);
    files::Checksum whole;
    whole.update(testing::read_file(path));
    EXPECT_EQ(scan.checksum, whole.text());
    EXPECT_EQ(scan.size_bytes, testing::read_file(path).size());
    for (size_t k = 0; k < scan.shard_starts.size(); ++k) {
      const auto tail = all_records(path, format, scan.shard_starts[k]);
      ASSERT_EQ(tail.size(), 23 - 5 * k);
      EXPECT_EQ(tail.front(), records[5 * k]);
    }
  }
}

TEST(RecordStream, FormatFollowsTheFileName) {
  EXPECT_EQ(corpus_format_of("a/vora_30m.jsonl"), CorpusFormat::kJsonLines);
  EXPECT_EQ(corpus_format_of("llava_v1_5_mix665k.json"), CorpusFormat::kJsonArray);
}

}  // namespace
}  // namespace vlm::data
