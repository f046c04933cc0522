#include "common/crc32c.h"

#include <array>

namespace vlm {
namespace {

// 0x1EDC6F41 bit-reversed: the table walks the bytes least significant bit first.
constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t remainder = byte;
    for (int bit = 0; bit < 8; ++bit) {
      remainder = (remainder & 1u) ? (remainder >> 1) ^ kReflectedPolynomial : remainder >> 1;
    }
    table[byte] = remainder;
  }
  return table;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t state = ~crc;
  for (size_t i = 0; i < size; ++i) state = table[(state ^ bytes[i]) & 0xFFu] ^ (state >> 8);
  return ~state;
}

}  // namespace vlm
