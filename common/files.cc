#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace vlm::files {
namespace {

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  VLM_CHECK(fd >= 0, IoError, "cannot open ", path, " to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  VLM_CHECK(rc == 0, IoError, "fsync of ", path, " failed: ", std::strerror(errno));
}

}  // namespace

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VLM_CHECK(in, IoError, "cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  VLM_CHECK(!in.bad(), IoError, "cannot read ", path);
  return buffer.str();
}

void write_atomically(const std::string& path, std::string_view content) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    VLM_CHECK(out, IoError, "cannot create ", temp, ": ", std::strerror(errno));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    VLM_CHECK(out, IoError, "cannot write ", temp, ": ", std::strerror(errno));
  }
  commit_file(temp, path);
}

void commit_file(const std::string& temp, const std::string& path) {
  fsync_path(temp, O_RDONLY);
  VLM_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, IoError, "cannot rename ", temp, " to ",
            path, ": ", std::strerror(errno));
  fsync_path(parent(path), O_RDONLY | O_DIRECTORY);
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  VLM_CHECK(!ec, IoError, "cannot create directory ", path, ": ", ec.message());
}

void sync_file(const std::string& path) { fsync_path(path, O_RDONLY); }

void sync_directory(const std::string& path) { fsync_path(path, O_RDONLY | O_DIRECTORY); }

bool exists(const std::string& path) { return std::filesystem::exists(path); }

bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

std::string parent(const std::string& path) {
  const auto p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

std::string join(const std::string& base, const std::string& rest) {
  return (std::filesystem::path(base) / rest).string();
}

uint64_t fnv1a64(std::string_view bytes, uint64_t seed) {
  uint64_t hash = seed;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string hex64(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

void Checksum::update(std::string_view bytes) {
  // zlib takes uInt lengths: feed very large views in pieces.
  constexpr size_t kPiece = 1u << 30;
  for (size_t done = 0; done < bytes.size(); done += kPiece) {
    const size_t length = std::min(kPiece, bytes.size() - done);
    crc_ = static_cast<uint32_t>(::crc32(crc_, reinterpret_cast<const Bytef*>(bytes.data() + done),
                                         static_cast<uInt>(length)));
  }
}

std::string Checksum::text() const {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "crc32:%08x", static_cast<unsigned>(crc_));
  return buffer;
}

std::string checksum_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VLM_CHECK(in, IoError, "cannot open ", path, ": ", std::strerror(errno));
  std::string block(1 << 20, '\0');
  Checksum checksum;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    checksum.update(std::string_view(block.data(), static_cast<size_t>(in.gcount())));
  }
  VLM_CHECK(!in.bad(), IoError, "cannot read ", path);
  return checksum.text();
}

}  // namespace vlm::files
