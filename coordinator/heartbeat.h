// Heartbeats: every rank sends rank 0 a UDP datagram (rank, host, step) at an interval from a
// thread of its own; rank 0's monitor tracks when each rank was last heard from and calls a
// handler once for each rank silent past the timeout. A rank whose process ends normally says
// goodbye first, so a rank that finishes before rank 0 (which still writes the final model) is
// not taken for a hung one. Datagrams carry a token the job shares (sent through the
// communicator at start), so stray datagrams on the port are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/run_status.h"

namespace vlm::coordinator {

struct Heartbeat {
  uint64_t token = 0;
  int rank = 0;
  int64_t step = 0;
  bool goodbye = false;  // the rank's process is ending normally: stop watching it
  std::string host;
};

std::string encode_heartbeat(const Heartbeat& beat);
// nullopt for anything that is not a heartbeat this encoder wrote.
std::optional<Heartbeat> decode_heartbeat(std::string_view datagram);

class HeartbeatMonitor {
 public:
  using SilenceHandler = std::function<void(const RankHeartbeat&)>;
  // hosts[r] is rank r's host. Listens on a free UDP port of every interface (port()); every
  // rank counts as heard from now. on_silence runs on the monitor's thread, once per rank.
  HeartbeatMonitor(std::vector<std::string> hosts, uint64_t token, double timeout_s,
                   SilenceHandler on_silence);
  ~HeartbeatMonitor();
  HeartbeatMonitor(const HeartbeatMonitor&) = delete;
  HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

  int port() const;
  double timeout_s() const;
  std::vector<RankHeartbeat> ranks() const;  // ages as of now

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class HeartbeatSender {
 public:
  // Sends `identity` (with the latest step) to host:port every interval_s, the first at once.
  // Throws IoError when host does not resolve.
  HeartbeatSender(const std::string& host, int port, Heartbeat identity, double interval_s);
  ~HeartbeatSender();  // stops, then says goodbye
  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;

  void set_step(int64_t step);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlm::coordinator
