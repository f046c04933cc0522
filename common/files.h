// Small file helpers: whole-file reads, atomic writes (temp file + fsync + rename), checksums.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::files {

std::string read_all(const std::string& path);
// Writes to path + ".tmp", fsyncs it, renames it over path and fsyncs the directory.
void write_atomically(const std::string& path, std::string_view content);
// The last step of an atomic write done by other code (e.g. HDF5): fsyncs temp, renames it over
// path and fsyncs the directory.
void commit_file(const std::string& temp, const std::string& path);
void make_directories(const std::string& path);
// Makes a file's content durable (fsync).
void sync_file(const std::string& path);
// Makes a directory's entries (files created, renamed or removed in it) durable.
void sync_directory(const std::string& path);
bool exists(const std::string& path);
// Parent directory of path ("a/b/c" -> "a/b", "c" -> ".").
std::string parent(const std::string& path);
// Joins two path parts; an absolute second part wins.
std::string join(const std::string& base, const std::string& rest);
// A name that can only mean a file in the folder it is joined to: not empty, not "." or "..", no
// '/' and no NUL. File names read from data (shard and model index files, manifests) must be
// plain before they are joined and opened.
bool is_plain_file_name(std::string_view name);

// FNV-1a 64-bit: a fast, stable checksum for content identity (not for security).
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t value);
// Content checksum of shard files and corpus inputs: CRC-32 as zlib computes it (Python:
// zlib.crc32), about four times faster than fnv1a64 here. Fed in pieces, it gives the same value
// as fed at once. text() is "crc32:" and 8 hex digits, so a stored checksum names its algorithm.
class Checksum {
 public:
  void update(std::string_view bytes);
  uint32_t value() const { return crc_; }
  std::string text() const;

 private:
  uint32_t crc_ = 0;
};
// Checksum of a whole file, read in blocks (memory stays small whatever the file's size).
std::string checksum_file(const std::string& path);

}  // namespace vlm::files
