// Canvas::write_png, in the one translation unit that compiles stb_image_write. Its functions
// are static here (STB_IMAGE_WRITE_STATIC), so they cannot clash with data/'s copy in a program
// that links both.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>

#include "common/error.h"
#include "report/canvas.h"

namespace vlm::report {

void Canvas::write_png(const std::string& path) const {
  const int ok = stbi_write_png(path.c_str(), width_, height_, 3, pixels_.data(), width_ * 3);
  VLM_CHECK(ok != 0, IoError, "cannot write PNG ", path);
}

}  // namespace vlm::report
