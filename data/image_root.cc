#include "data/image_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stb_image.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/error.h"
#include "common/text_format.h"

namespace vlm::data {
namespace {

bool has_signature(std::string_view bytes, std::string_view signature) {
  return bytes.size() >= signature.size() && bytes.substr(0, signature.size()) == signature;
}

// Reads size bytes of fd (the size fstat gave) into bytes; false with errno on a read error. A
// file that changes while it is read is not this function's concern: one read, no probe for more.
bool read_fd(int fd, size_t size, std::string& bytes) {
  bytes.resize(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, bytes.data() + done, size - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  bytes.resize(done);
  return true;
}

// openat2 with RESOLVE_BENEATH fails with EAGAIN while renames race its walk; it succeeds on a
// retry unless the machine renames without pause.
constexpr int kBeneathRetries = 64;

}  // namespace

bool is_path_beneath_root(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  if (path.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = std::min(path.find('/', start), path.size());
    if (path.substr(start, slash - start) == "..") return false;
    start = slash + 1;
  }
  return true;
}

ImageRoot::ImageRoot(const std::string& root, ImageLimits limits, ImageLinks links)
    : root_(root), limits_(limits), kernel_confined_(links == ImageLinks::kConfined) {
  root_fd_ = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  VLM_CHECK(root_fd_ >= 0, IoError, "image root ", root,
            " is not a readable directory: ", std::strerror(errno));
}

ImageRoot::~ImageRoot() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

int ImageRoot::open_beneath(const std::string& path) const {
  if (kernel_confined_) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a rename anywhere on the machine raced a ".." in the walk (a symlink's target
    // here); the kernel asks for a retry. Concurrent checkpoint commits made this a real
    // "missing image" in CI.
    long fd = -1;
    for (int attempt = 0; attempt < kBeneathRetries; ++attempt) {
      fd = ::syscall(SYS_openat2, root_fd_, path.c_str(), &how, sizeof(how));
      if (fd >= 0 || errno != EAGAIN) break;
    }
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    kernel_confined_ = false;  // an old kernel: the lexical check is the guard
  }
  return ::openat(root_fd_, path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

ImageRoot::Status ImageRoot::read(std::string_view path, std::string& bytes,
                                  std::string& error) const {
  if (!is_path_beneath_root(path)) {
    error = "path is absolute, empty or contains '..'";
    return Status::kOutsideRoot;
  }
  const int fd = open_beneath(std::string(path));
  if (fd < 0) {
    const int open_error = errno;
    error = std::strerror(open_error);
    // EXDEV: RESOLVE_BENEATH refused a symlink (or mount crossing) that leaves the root.
    if (open_error != EXDEV) return Status::kUnreadable;
    error =
        "it resolves through a symbolic link (or a mount) out of the image root; if you made "
        "the link, set data.follow_symlinks: true (vlm-shard --follow-symlinks)";
    return Status::kOutsideRoot;
  }
  struct stat info {};
  Status status = Status::kOk;
  if (::fstat(fd, &info) != 0) {
    error = std::strerror(errno);
    status = Status::kUnreadable;
  } else if (!S_ISREG(info.st_mode)) {
    error = "not a regular file";
    status = Status::kUnreadable;
  } else if (info.st_size > limits_.max_file_bytes) {
    error = std::to_string(info.st_size) + " bytes, over the cap of " +
            std::to_string(limits_.max_file_bytes) +
            " (data.max_image_bytes; vlm-shard --max-image-bytes)";
    status = Status::kTooLarge;
  } else if (!read_fd(fd, static_cast<size_t>(info.st_size), bytes)) {
    error = std::strerror(errno);
    status = Status::kUnreadable;
  }
  ::close(fd);
  return status;
}

std::string ImageRoot::read_or_throw(std::string_view path) const {
  std::string bytes;
  std::string error;
  VLM_CHECK(read(path, bytes, error) == Status::kOk, FormatError, "image ", root_, "/",
            quoted_excerpt(path), ": ", error);
  return bytes;
}

bool read_image_header(std::string_view bytes, int& width, int& height) {
  static constexpr char kJpeg[] = "\xFF\xD8\xFF";
  static constexpr char kPng[] = "\x89PNG\r\n\x1A\n";
  if (!has_signature(bytes, std::string_view(kJpeg, 3)) &&
      !has_signature(bytes, std::string_view(kPng, 8))) {
    return false;
  }
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return false;
  int channels = 0;
  const int ok = stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                       static_cast<int>(bytes.size()), &width, &height, &channels);
  return ok != 0 && width > 0 && height > 0;
}

std::string pixel_cap_error(int width, int height, const ImageLimits& limits) {
  const int64_t pixels = int64_t{width} * int64_t{height};
  if (pixels <= limits.max_pixels) return {};
  return std::to_string(width) + " x " + std::to_string(height) + " pixels, over the cap of " +
         std::to_string(limits.max_pixels) +
         " (data.max_image_pixels; vlm-shard --max-image-pixels)";
}

}  // namespace vlm::data
