// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
// raw little-endian tensor bytes (offsets are relative to the end of the header).
//
// The header's validation needs no tensor library, so that the sanitizer build and the fuzzers
// run it as the reader does. Nothing in a header is trusted: every length, offset, shape and dtype
// is checked, and every problem is a FormatError naming the file and (where there is one) the
// tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vlm::models {

struct SafetensorsHeaderEntry {
  std::string name;
  std::string dtype;  // one of the supported names (safetensors_element_bytes knows them)
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range in the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsHeaderEntry> entries;  // sorted by name, byte ranges disjoint
  std::map<std::string, std::string> metadata;
};

// The header's length from the file's first 8 bytes, checked against the file's size and the
// reference implementation's 100 MB limit.
uint64_t safetensors_header_length(const uint8_t (&prefix)[8], uint64_t file_size,
                                   const std::string& source);
// Validates the header JSON; data_size is the number of bytes after the header.
SafetensorsHeader parse_safetensors_header(const std::string& header_json, uint64_t data_size,
                                           const std::string& source);
// Bytes per element of a supported dtype name (F32, F16, BF16, F64, I64, I32); 0 for others.
size_t safetensors_element_bytes(const std::string& dtype);

}  // namespace vlm::models
