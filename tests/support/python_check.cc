#include "tests/support/python_check.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace vlm::testing {
namespace {

// Single quotes keep every character of a path or argument literal in the shell.
std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

CommandResult run_python(const std::string& script, const std::vector<std::string>& args) {
  std::string command = "/usr/bin/python3 " + shell_quoted(script);
  for (const auto& arg : args) command += " " + shell_quoted(arg);
  command += " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t read = 0;
  while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), read);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace vlm::testing
