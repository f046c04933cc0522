// The thread the status server and the heartbeats each run their Boost.Asio loop on. Internal to
// monitor/ (its .cc files already include Asio).
#pragma once

#include <boost/asio/io_context.hpp>
#include <thread>

namespace vlm::monitor {

// Runs io on a new thread until io is stopped. An exception from a handler is logged (naming
// `what`) and the loop goes on: watching must not end over one bad datagram or client.
std::thread run_io_thread(boost::asio::io_context& io, const char* what);

}  // namespace vlm::monitor
