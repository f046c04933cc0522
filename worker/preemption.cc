#include "worker/preemption.h"

#include <csignal>

namespace vlm::worker {
namespace {

volatile std::sig_atomic_t requested = 0;

extern "C" void on_preemption_signal(int) { requested = 1; }

}  // namespace

void install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a signal must not fail an I/O call under way
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool preemption_requested() { return requested != 0; }

void clear_preemption_request() { requested = 0; }

}  // namespace vlm::worker
