#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

#include "common/text_format.h"

namespace vlm {
namespace {

// Check values from RFC 3720 (iSCSI), appendix B.4, and the CRC catalogue's "123456789".
TEST(Crc32c, MatchesPublishedVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, ExtendsAcrossPieces) {
  const std::string text = "brain.Event:2 and then some more bytes";
  const uint32_t head = crc32c(text.data(), 10);
  EXPECT_EQ(crc32c(text.data() + 10, text.size() - 10, head), crc32c(text));
}

// TFRecord's mask: rotate right by 15, add 0xa282ead8 (mod 2^32).
TEST(Crc32c, MaskRotatesAndOffsets) {
  EXPECT_EQ(mask_crc32c(0), 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(1u << 15), 1u + 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(1), (1u << 17) + 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
}

TEST(TextFormat, DurationsReadAtAGlance) {
  EXPECT_EQ(format_duration(42.4), "42s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(2 * 3600 + 7 * 60 + 10), "2h07m");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(TextFormat, TableColumnsAlign) {
  const auto lines = format_table({{"stage", "steps"}, {"pretrain", "7"}, {"ft", "14"}});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "stage     steps");
  EXPECT_EQ(lines[1], "---------------");
  EXPECT_EQ(lines[2], "pretrain  7");
  EXPECT_EQ(lines[3], "ft        14");
}

}  // namespace
}  // namespace vlm
