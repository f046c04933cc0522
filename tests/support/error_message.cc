#include "tests/support/error_message.h"

#include "common/error.h"

namespace vlm::testing {

std::string error_message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace vlm::testing
