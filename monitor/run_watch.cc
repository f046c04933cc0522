#include "monitor/run_watch.h"

#include <fmt/format.h>

#include <sstream>

#include "common/error.h"
#include "common/log.h"

namespace vlm::monitor {
namespace {

// "host port key": where heartbeats go and the job key, as rank 0 shares them through the
// communicator (the key travels nowhere else).
struct HeartbeatAddress {
  std::string host;
  int port = 0;
  HeartbeatKey job_key{};
};

std::string encode_address(const HeartbeatAddress& a) {
  return fmt::format("{} {} {}", a.host, a.port, heartbeat_key_hex(a.job_key));
}

HeartbeatAddress decode_address(const std::string& text) {
  HeartbeatAddress a;
  std::istringstream in(text);
  std::string key_hex;
  in >> a.host >> a.port >> key_hex;
  const std::optional<HeartbeatKey> key = parse_heartbeat_key_hex(key_hex);
  // The text holds the key: not quoted in the message.
  VLM_CHECK(in && a.port > 0 && key, InternalError, "heartbeats: rank 0 shared ", text.size(),
            " bytes that are not 'host port key'");
  a.job_key = *key;
  return a;
}

}  // namespace

RunWatch::RunWatch(const recipes::ClusterSection& cluster, const std::string& run_dir,
                   const cluster::World& world, HeartbeatMonitor::SilenceHandler on_silence)
    : cluster_(cluster), world_(world), on_silence_(std::move(on_silence)) {
  if (world_.hostname.empty()) world_.hostname = "unknown-host";
  if (world_.is_coordinator() && cluster_.status_port > 0) {
    board_ = std::make_unique<StatusBoard>(run_dir, world_.job_id, world_.world_size);
    start_endpoint();
  }
}

RunWatch::~RunWatch() = default;

void RunWatch::start_endpoint() {
  StatusServerOptions options;
  options.address = cluster_.status_address;
  options.port = static_cast<int>(cluster_.status_port);
  try {
    server_ = std::make_unique<StatusServer>(options, [this] { return snapshot(); });
    log::info("status endpoint: {}/status and {}/metrics", server_->url(), server_->url());
  } catch (const Error& e) {
    log::warn("{} (cluster.status_port {}): training goes on without it", e.what(),
              cluster_.status_port);
  }
}

void RunWatch::connect(cluster::Communicator& comm) {
  if (cluster_.heartbeat_interval_s <= 0) return;
  const std::vector<std::string> hosts = comm.gather(world_.hostname, 0);
  std::string shared;
  if (comm.is_root()) {
    HeartbeatAddress address;
    address.job_key = random_heartbeat_key();
    std::optional<std::string> listen = heartbeat_listen_address(hosts, cluster_.status_address);
    std::unique_ptr<HeartbeatMonitor> monitor;
    if (listen) {
      try {
        monitor = std::make_unique<HeartbeatMonitor>(*listen, hosts, address.job_key,
                                                     cluster_.heartbeat_timeout_s, on_silence_);
      } catch (const IoError& e) {
        log::warn("{}", e.what());
        listen.reset();
      }
    }
    if (!monitor) {
      // The other ranks are already waiting in the broadcast below: listening somewhere beats
      // failing here.
      log::warn(
          "heartbeats: neither cluster.status_address {} nor host {} gives an address other "
          "hosts reach that could be bound: the monitor listens on every interface "
          "(datagrams are authenticated all the same)",
          cluster_.status_address, world_.hostname);
      monitor = std::make_unique<HeartbeatMonitor>("0.0.0.0", hosts, address.job_key,
                                                   cluster_.heartbeat_timeout_s, on_silence_);
    }
    address.host = listen.value_or(world_.hostname);
    address.port = monitor->port();
    shared = encode_address(address);
    std::lock_guard<std::mutex> lock(monitor_mutex_);
    monitor_ = std::move(monitor);
  }
  comm.broadcast(shared, 0);
  const HeartbeatAddress address = decode_address(shared);
  // Ranks beside a monitor on every interface need no name lookup, nor a route out and back.
  const std::string target = address.host == world_.hostname ? "127.0.0.1" : address.host;
  try {
    sender_ = std::make_unique<HeartbeatSender>(
        target, address.port, rank_heartbeat_key(address.job_key, comm.rank()),
        Heartbeat{comm.rank(), 0, 0, false, world_.hostname}, cluster_.heartbeat_interval_s);
  } catch (const Error& e) {
    log::warn("{}: rank 0 will report this rank as silent", e.what());
  }
  log::info("heartbeats: every {} s to {} port {}; a rank silent for {} s ends the job",
            cluster_.heartbeat_interval_s, address.host, address.port,
            cluster_.heartbeat_timeout_s);
}

std::string RunWatch::url() const { return server_ ? server_->url() : ""; }

RunStatus RunWatch::snapshot() const {
  RunStatus status = board_ ? board_->snapshot() : RunStatus{};
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) {
    status.ranks = monitor_->ranks();
    status.heartbeat_timeout_s = monitor_->timeout_s();
  }
  return status;
}

void RunWatch::stage_started(const StageStart& start) {
  if (board_) board_->stage_started(start);
}

void RunWatch::step_done(const StepMetrics& metrics) {
  if (board_) board_->step_done(metrics);
  if (sender_) sender_->set_step(metrics.step);
}

void RunWatch::checkpoint_committed(const CheckpointCommitted& checkpoint) {
  if (board_) board_->checkpoint_committed(checkpoint);
}

void RunWatch::run_finished(bool preempted) {
  if (board_) board_->run_finished(preempted);
}

}  // namespace vlm::monitor
