// Reads image files named by corpus records, never outside the image root. A path is checked
// lexically first (relative, no ".." component, no NUL): a path that fails is refused before any
// system call sees it. The open itself then resolves beneath the root's directory descriptor
// (openat2 with RESOLVE_BENEATH where the kernel has it), which also refuses symlinks that lead
// out of the root.
#pragma once

#include <string>
#include <string_view>

namespace vlm::data {

// True for a non-empty relative path with no ".." component and no NUL byte.
bool is_path_beneath_root(std::string_view path);

class ImageRoot {
 public:
  enum class Status { kOk, kOutsideRoot, kUnreadable };

  // Throws IoError when root is not a readable directory.
  explicit ImageRoot(const std::string& root);
  ~ImageRoot();
  ImageRoot(const ImageRoot&) = delete;
  ImageRoot& operator=(const ImageRoot&) = delete;

  // Reads the file at path (relative to the root) into bytes. kOutsideRoot when the path fails
  // is_path_beneath_root or resolves outside the root; kUnreadable when it is missing, not a
  // regular file, or cannot be read. `error` says why, for the skip list.
  Status read(std::string_view path, std::string& bytes, std::string& error) const;

  const std::string& root() const { return root_; }
  // Whether opens are confined by the kernel (openat2) or only by the lexical check.
  bool kernel_confined() const { return kernel_confined_; }

 private:
  int open_beneath(const std::string& path) const;

  std::string root_;
  int root_fd_ = -1;
  mutable bool kernel_confined_ = true;
};

// The image's format and size from its header: a JPEG or PNG signature, then the dimensions
// (stb_image's header parser). False when the bytes are neither or give no valid dimensions.
// A header that parses does not promise a full decode; the loader counts the rare image that
// fails later.
bool read_image_header(std::string_view bytes, int& width, int& height);

}  // namespace vlm::data
