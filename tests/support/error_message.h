// The message of the vlm::Error an action throws, for tests that check what a user would read.
#pragma once

#include <functional>
#include <string>

namespace vlm::testing {

// The what() of the vlm::Error that action throws, or "(no error)" when it throws none.
std::string error_message_of(const std::function<void()>& action);

}  // namespace vlm::testing
