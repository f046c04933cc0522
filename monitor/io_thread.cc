#include "monitor/io_thread.h"

#include "common/log.h"

namespace vlm::monitor {

std::thread run_io_thread(boost::asio::io_context& io, const char* what) {
  return std::thread([&io, what] {
    while (true) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        log::warn("{}: {} (going on)", what, e.what());
      }
    }
  });
}

}  // namespace vlm::monitor
