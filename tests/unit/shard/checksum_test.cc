#include <gtest/gtest.h>

#include "common/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::files {
namespace {

std::string checksum_of(std::string_view bytes) {
  Checksum checksum;
  checksum.update(bytes);
  return checksum.text();
}

// Python's zlib.crc32 gives the same numbers, so any tool can verify a shard file.
TEST(Checksum, IsZlibCrc32) {
  EXPECT_EQ(checksum_of("hello, shards"), "crc32:a05855c6");
  EXPECT_EQ(checksum_of(""), "crc32:00000000");
}

TEST(Checksum, PiecesGiveTheSameValueAsTheWhole) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes += static_cast<char>(i * 7);
  const std::string whole = checksum_of(bytes);
  for (const size_t cut : {1u, 2u, 3u, 5u, 499u, 998u}) {
    Checksum pieces;
    pieces.update(std::string_view(bytes).substr(0, cut));
    pieces.update(std::string_view(bytes).substr(cut, 1));
    pieces.update(std::string_view(bytes).substr(cut + 1));
    EXPECT_EQ(pieces.text(), whole) << cut;
  }
  EXPECT_NE(checksum_of(bytes.substr(1)), whole);
  testing::TempDir dir;
  testing::write_file(dir.file("f"), bytes);
  EXPECT_EQ(checksum_file(dir.file("f")), whole);
}

}  // namespace
}  // namespace vlm::files
