#include "apps/main_support.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>

#include "common/error.h"

namespace vlm::apps {

double parse_mib(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = -1;
  if (unit.empty() || unit == "MiB" || unit == "M") scale = 1;
  if (unit == "GiB" || unit == "G") scale = 1024;
  VLM_CHECK(used > 0 && scale > 0 && value >= 0, ConfigError, flag, " ", text,
            ": expected a size such as 1.5GiB, 800MiB or a number of MiB");
  return value * scale;
}
namespace {

bool cpu_has_avx512() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" avx512f") != std::string::npos;
  }
  return false;
}

std::string program_name(char** argv) {
  const char* slash = std::strrchr(argv[0], '/');
  return slash ? slash + 1 : argv[0];
}

}  // namespace

void prefer_fast_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("VLM_NO_REEXEC")) return;
  if (!cpu_has_avx512()) return;
  ::setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  ::execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on with the default kernels.
}

int run_main(int argc, char** argv, const std::function<int(int, char**)>& body) {
  prefer_fast_blas(argv);
  const std::string name = program_name(argv);
  try {
    return body(argc, argv);
  } catch (const ConfigError& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const Error& e) {
    std::cerr << name << ": error: " << e.describe() << "\n";
    return kExitError;
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace vlm::apps
