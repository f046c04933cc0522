#include "common/error.h"

namespace vlm {

std::string Error::describe() const {
  std::string file = file_;
  // Keep the path relative to the project: the part from the library folder on.
  const auto slash = file.rfind('/');
  if (slash != std::string::npos) {
    const auto previous = file.rfind('/', slash - 1);
    if (previous != std::string::npos) file = file.substr(previous + 1);
  }
  return detail::concat(what(), " (raised at ", file, ":", line_, ")");
}

}  // namespace vlm
