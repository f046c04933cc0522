// Reads image files named by corpus records, never outside the image root. A path is checked
// lexically first (relative, no ".." component, no NUL): a path that fails is refused before any
// system call sees it. The open itself then resolves beneath the root's directory descriptor
// (openat2 with RESOLVE_BENEATH where the kernel has it), which also refuses symlinks that lead
// out of the root, unless the user trusts the tree's links (ImageLinks::kFollowed: LLaVA's
// playground/data/coco -> /datasets/coco is such a link; the record's path is still confined). The
// open never blocks (a FIFO named as an image is refused, not waited on), only regular files are
// read, and a file over the byte cap is refused from its size alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::data {

// Caps on what one image may cost, checked before the cost is paid: the file's size before it is
// read, the pixel count from the header before it is decoded. The recipe keys
// data.max_image_bytes and data.max_image_pixels (vlm-shard: --max-image-bytes,
// --max-image-pixels) set them; the pixel default is Pillow's decompression-bomb bound.
struct ImageLimits {
  int64_t max_file_bytes = int64_t{64} << 20;
  int64_t max_pixels = 89'478'485;
  bool operator==(const ImageLimits& other) const {
    return max_file_bytes == other.max_file_bytes && max_pixels == other.max_pixels;
  }
};

// Whether symbolic links inside the image root may lead out of it (data.follow_symlinks,
// vlm-shard --follow-symlinks). Records never can: their paths pass the lexical check either way.
enum class ImageLinks { kConfined, kFollowed };

// True for a non-empty relative path with no ".." component and no NUL byte.
bool is_path_beneath_root(std::string_view path);

class ImageRoot {
 public:
  enum class Status { kOk, kOutsideRoot, kUnreadable, kTooLarge };

  // Throws IoError when root is not a readable directory.
  explicit ImageRoot(const std::string& root, ImageLimits limits = {},
                     ImageLinks links = ImageLinks::kConfined);
  ~ImageRoot();
  ImageRoot(const ImageRoot&) = delete;
  ImageRoot& operator=(const ImageRoot&) = delete;

  // Reads the file at path (relative to the root) into bytes. kOutsideRoot when the path fails
  // is_path_beneath_root or resolves outside the root; kUnreadable when it is missing, not a
  // regular file, or cannot be read; kTooLarge when it is over limits.max_file_bytes (nothing is
  // read). `error` says why, for the skip list.
  Status read(std::string_view path, std::string& bytes, std::string& error) const;

  // The bytes of the file at path; FormatError naming the path and the reason otherwise.
  std::string read_or_throw(std::string_view path) const;

  const std::string& root() const { return root_; }
  const ImageLimits& limits() const { return limits_; }
  // Whether opens are confined by the kernel (openat2) or only by the lexical check (links
  // followed, or an old kernel).
  bool kernel_confined() const { return kernel_confined_; }

 private:
  int open_beneath(const std::string& path) const;

  std::string root_;
  ImageLimits limits_;
  int root_fd_ = -1;
  mutable bool kernel_confined_;
};

// The image's format and size from its header: a JPEG or PNG signature, then the dimensions
// (stb_image's header parser). False when the bytes are neither or give no valid dimensions.
// A header that parses does not promise a full decode; the loader counts the rare image that
// fails later.
bool read_image_header(std::string_view bytes, int& width, int& height);

// Empty when width x height is within limits.max_pixels; otherwise why not, naming the key.
std::string pixel_cap_error(int width, int height, const ImageLimits& limits);

}  // namespace vlm::data
