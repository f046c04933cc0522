// Runs a reference script under Debian's python3 (the one with torch), for tests that compare
// our results with an independent computation in plain torch (tests/reference/).
#pragma once

#include <string>
#include <vector>

namespace vlm::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// /usr/bin/python3 <script> <args...>, output captured.
CommandResult run_python(const std::string& script, const std::vector<std::string>& args);

}  // namespace vlm::testing
