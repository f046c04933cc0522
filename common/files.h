// Small file helpers: whole-file reads, atomic writes (temp file + fsync + rename), checksums.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::files {

std::string read_all(const std::string& path);
// Writes to path + ".tmp", fsyncs it, renames it over path and fsyncs the directory.
void write_atomically(const std::string& path, std::string_view content);
void make_directories(const std::string& path);
bool exists(const std::string& path);
// Parent directory of path ("a/b/c" -> "a/b", "c" -> ".").
std::string parent(const std::string& path);
// Joins two path parts; an absolute second part wins.
std::string join(const std::string& base, const std::string& rest);

// FNV-1a 64-bit: a fast, stable checksum for content identity (not for security).
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t value);

}  // namespace vlm::files
