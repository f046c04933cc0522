// Typed errors with the source location that raised them. Libraries throw these; only the mains
// in apps/ turn them into a message and an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vlm {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(message), file_(file), line_(line) {}
  const char* file() const { return file_; }
  int line() const { return line_; }
  // "message (raised at data/json.cc:42)"
  std::string describe() const;

 private:
  const char* file_;
  int line_;
};

// A recipe, flag or argument the user gave is wrong. The message names the key and the file.
class ConfigError : public Error {
  using Error::Error;
};
// A file is missing, unreadable or unwritable.
class IoError : public Error {
  using Error::Error;
};
// A file exists but its content is malformed (JSON, safetensors, JPEG, tokenizer model...).
class FormatError : public Error {
  using Error::Error;
};
// Tensors, names or shapes that do not fit together (e.g. a checkpoint for another model).
class ShapeError : public Error {
  using Error::Error;
};
// A collective failed or waited past its timeout (a peer died, hangs or diverged). The message
// names the collective and what it was for ("all_gather of unit llm.layers.3 at step 12").
class CommError : public Error {
  using Error::Error;
};
// Training cannot go on: the loss or gradient norm stayed non-finite for too many steps.
class DivergenceError : public Error {
  using Error::Error;
};
// A broken internal invariant: a bug in vlmtrain, not in the user's input.
class InternalError : public Error {
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace vlm

// VLM_THROW(IoError, "cannot open ", path) throws vlm::IoError with this file:line.
#define VLM_THROW(ErrorType, ...) \
  throw ::vlm::ErrorType(::vlm::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

// VLM_CHECK(cond, ErrorType, message...) throws when cond is false.
#define VLM_CHECK(cond, ErrorType, ...)  \
  do {                                   \
    if (!(cond)) {                       \
      VLM_THROW(ErrorType, __VA_ARGS__); \
    }                                    \
  } while (0)
