// Rank-aware logging over spdlog: every line carries the rank; info lines print on rank 0 only
// unless asked otherwise, so an 8-rank job does not print everything eight times.
#pragma once

#include <spdlog/spdlog.h>

namespace vlm::log {

// Called once at start by the mains; before it, rank 0 of 1 is assumed.
void set_rank(int rank, int world_size);
int rank();

template <typename... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (rank() == 0) spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void info_all(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}

}  // namespace vlm::log
