// CRC-32C (Castagnoli polynomial), the checksum of TFRecord and TensorBoard event files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vlm {

// The CRC-32C of size bytes; pass the previous result as `crc` to extend it over more bytes.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
inline uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

// TFRecord stores a rotated and offset CRC: a CRC computed over data that itself holds CRCs
// would otherwise be weak.
inline uint32_t mask_crc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace vlm
