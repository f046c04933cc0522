#include "coordinator/run_watch.h"

#include <fmt/format.h>

#include <random>
#include <sstream>

#include "common/error.h"
#include "common/log.h"

namespace vlm::coordinator {
namespace {

// "host port token": where heartbeats go, as rank 0 shares it.
struct HeartbeatAddress {
  std::string host;
  int port = 0;
  uint64_t token = 0;
};

std::string encode_address(const HeartbeatAddress& a) {
  return fmt::format("{} {} {:x}", a.host, a.port, a.token);
}

HeartbeatAddress decode_address(const std::string& text) {
  HeartbeatAddress a;
  std::istringstream in(text);
  in >> a.host >> a.port >> std::hex >> a.token;
  VLM_CHECK(in && a.port > 0, InternalError, "heartbeats: rank 0 shared '", text,
            "', not 'host port token'");
  return a;
}

uint64_t random_token() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
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
    const uint64_t token = random_token();
    auto monitor =
        std::make_unique<HeartbeatMonitor>(hosts, token, cluster_.heartbeat_timeout_s, on_silence_);
    shared = encode_address({world_.hostname, monitor->port(), token});
    std::lock_guard<std::mutex> lock(monitor_mutex_);
    monitor_ = std::move(monitor);
  }
  comm.broadcast(shared, 0);
  const HeartbeatAddress address = decode_address(shared);
  // Ranks beside rank 0 need no name lookup, nor a route out and back.
  const std::string target = address.host == world_.hostname ? "127.0.0.1" : address.host;
  try {
    sender_ = std::make_unique<HeartbeatSender>(
        target, address.port, Heartbeat{address.token, comm.rank(), 0, false, world_.hostname},
        cluster_.heartbeat_interval_s);
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

void RunWatch::stage_started(const worker::StageStart& start) {
  if (board_) board_->stage_started(start);
}

void RunWatch::step_done(const worker::StepMetrics& metrics) {
  if (board_) board_->step_done(metrics);
  if (sender_) sender_->set_step(metrics.step);
}

void RunWatch::checkpoint_committed(const worker::CheckpointCommitted& checkpoint) {
  if (board_) board_->checkpoint_committed(checkpoint);
}

void RunWatch::run_finished(bool preempted) {
  if (board_) board_->run_finished(preempted);
}

}  // namespace vlm::coordinator
