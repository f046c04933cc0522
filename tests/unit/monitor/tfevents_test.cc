#include "monitor/tfevents.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/crc32c.h"
#include "monitor/tensorboard.h"
#include "tests/support/temp_dir.h"

namespace vlm::monitor {
namespace {

uint64_t little_endian(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  }
  return value;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(TfEvents, RecordIsLengthCrcDataCrc) {
  const std::string data = "some event bytes";
  const std::string record = tfevents::frame_record(data);
  ASSERT_EQ(record.size(), 8 + 4 + data.size() + 4);
  EXPECT_EQ(little_endian(record, 0, 8), data.size());
  EXPECT_EQ(little_endian(record, 8, 4), mask_crc32c(crc32c(record.substr(0, 8))));
  EXPECT_EQ(record.substr(12, data.size()), data);
  EXPECT_EQ(little_endian(record, 12 + data.size(), 4), mask_crc32c(crc32c(data)));
}

// Bytes worked out by hand from the protobuf wire format: key = field << 3 | wire type.
TEST(TfEvents, ScalarEventEncodesByHand) {
  const std::string event = tfevents::scalars_event(0.0, 300, {{"lr", 1.0f}});
  const std::string expected =
      std::string("\x09", 1) + std::string(8, '\0') +  // wall_time: field 1, fixed64
      "\x10\xac\x02" +                                 // step: field 2, varint 300
      "\x2a\x0b" +                                     // summary: field 5, 11 bytes
      "\x0a\x09" +                                     // value: field 1, 9 bytes
      "\x0a\x02lr" +                                   // tag: field 1, "lr"
      "\x15" + std::string("\x00\x00\x80\x3f", 4);     // simple_value: field 2, fixed32 1.0f
  EXPECT_EQ(event, expected);
  EXPECT_EQ(tfevents::event_step(event), 300);
  EXPECT_EQ(tfevents::event_step(tfevents::file_version_event(1.5)), -1);
  EXPECT_NE(tfevents::file_version_event(1.5).find("brain.Event:2"), std::string::npos);
}

TEST(TfEvents, ReaderStopsAtACutOrCorruptRecord) {
  testing::TempDir dir;
  const std::string path = dir.file("events");
  const std::string a = tfevents::frame_record("first");
  const std::string b = tfevents::frame_record("second");
  std::ofstream(path, std::ios::binary) << a << b << b.substr(0, 7);  // a writer killed mid-record
  EXPECT_EQ(tfevents::read_records(path), (std::vector<std::string>{"first", "second"}));

  std::string corrupt = a + b;
  corrupt[a.size() + 13] ^= 0x01;  // one bit of the second record's data
  std::ofstream(path, std::ios::binary | std::ios::trunc) << corrupt;
  EXPECT_EQ(tfevents::read_records(path), (std::vector<std::string>{"first"}));
}

TEST(TfEvents, FileStartsWithItsVersionAndHoldsEachStep) {
  testing::TempDir dir;
  std::string path;
  {
    tfevents::EventFile file(dir.file("tb"));
    path = file.path();
    file.write_scalars(1, {{"loss", 2.5f}});
    file.write_scalars(2, {{"loss", 2.25f}});
  }
  EXPECT_NE(std::filesystem::path(path).filename().string().find("events.out.tfevents."),
            std::string::npos);
  const auto records = tfevents::read_records(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_NE(records[0].find("brain.Event:2"), std::string::npos);
  EXPECT_EQ(tfevents::event_step(records[1]), 1);
  EXPECT_EQ(tfevents::event_step(records[2]), 2);
  EXPECT_EQ(read_file(path).size(),
            16 * 3 + records[0].size() + records[1].size() + records[2].size());
}

// A resumed run writes a second file that starts after the steps the first one holds.
TEST(TensorBoardLog, ResumeLeavesOutStepsAlreadyWritten) {
  testing::TempDir dir;
  const std::string tb = dir.file("tb");
  StepMetrics m;
  m.stage = "s";
  std::string first_path;
  {
    TensorBoardLog log(tb);
    first_path = log.path();
    for (m.run_step = 1; m.run_step <= 5; ++m.run_step) log.step_done(m);
  }
  TensorBoardLog resumed(tb);
  ASSERT_NE(resumed.path(), first_path);
  for (m.run_step = 4; m.run_step <= 7; ++m.run_step) resumed.step_done(m);
  std::vector<int64_t> steps;
  for (const auto& event : tfevents::read_records(resumed.path())) {
    steps.push_back(tfevents::event_step(event));
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{-1, 6, 7}));
  EXPECT_EQ(last_step_in(tb), 7);
}

}  // namespace
}  // namespace vlm::monitor
