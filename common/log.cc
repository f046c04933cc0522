#include "common/log.h"

#include <string>

namespace vlm::log {
namespace {
int g_rank = 0;
}

void set_rank(int rank, int world_size) {
  g_rank = rank;
  const std::string pattern =
      world_size > 1 ? "[%H:%M:%S] [rank " + std::to_string(rank) + "] [%l] %v" : "[%H:%M:%S] [%l] %v";
  spdlog::set_pattern(pattern);
}

int rank() { return g_rank; }

}  // namespace vlm::log
