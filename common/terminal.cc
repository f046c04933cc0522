#include "common/terminal.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace vlm {
namespace {

bool under_open_mpi() { return std::getenv("OMPI_COMM_WORLD_RANK") != nullptr; }

std::string parent_stdout() { return "/proc/" + std::to_string(getppid()) + "/fd/1"; }

bool is_terminal_device(const std::string& link) {
  char target[256] = {};
  const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
  if (n <= 0) return false;
  const std::string path(target, static_cast<size_t>(n));
  return path.rfind("/dev/pts/", 0) == 0 || path.rfind("/dev/tty", 0) == 0;
}

int columns_of(int fd) {
  winsize size{};
  return ioctl(fd, TIOCGWINSZ, &size) == 0 ? size.ws_col : 0;
}

}  // namespace

bool stdout_reaches_terminal() {
  if (isatty(STDOUT_FILENO) == 0) return false;
  return !under_open_mpi() || is_terminal_device(parent_stdout());
}

int terminal_columns() {
  int columns = 0;
  if (under_open_mpi()) {
    const int fd = open(parent_stdout().c_str(), O_WRONLY | O_NOCTTY);
    if (fd >= 0) {
      columns = columns_of(fd);
      close(fd);
    }
  } else {
    columns = columns_of(STDOUT_FILENO);
  }
  if (columns == 0) {
    if (const char* env = std::getenv("COLUMNS")) columns = std::atoi(env);
  }
  return columns;
}

}  // namespace vlm
