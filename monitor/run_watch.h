// What lets people and schedulers watch a run from outside the worker: rank 0's status endpoint
// (cluster.status_port, bound to cluster.status_address) fed by a StatusBoard, and heartbeats from
// every rank to rank 0's monitor (cluster.heartbeat_interval_s, cluster.heartbeat_timeout_s).
// RunMonitor (run_monitor.h) owns one and calls connect() once the communicator is open.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "cluster/communicator.h"
#include "cluster/world.h"
#include "monitor/heartbeat.h"
#include "monitor/run_observer.h"
#include "monitor/run_status.h"
#include "monitor/status_board.h"
#include "monitor/status_server.h"
#include "recipes/recipe.h"

namespace vlm::monitor {

class RunWatch : public RunObserver {
 public:
  // On rank 0 with a status port, starts the endpoint (a port it cannot bind is logged and the
  // run goes on without it). on_silence runs on rank 0's monitor thread for a silent rank.
  RunWatch(const recipes::ClusterSection& cluster, const std::string& run_dir,
           const cluster::World& world, HeartbeatMonitor::SilenceHandler on_silence);
  ~RunWatch() override;

  // Collective (every rank, same point): rank 0 learns every rank's host and shares its
  // heartbeat address and the job's heartbeat key; then every rank starts sending heartbeats.
  void connect(cluster::Communicator& comm);

  std::string url() const;  // the endpoint's http://address:port, empty when off
  RunStatus snapshot() const;

  void stage_started(const StageStart& start) override;
  void step_done(const StepMetrics& metrics) override;
  void checkpoint_committed(const CheckpointCommitted& checkpoint) override;
  void run_finished(bool preempted) override;

 private:
  void start_endpoint();

  recipes::ClusterSection cluster_;
  cluster::World world_;
  HeartbeatMonitor::SilenceHandler on_silence_;
  std::unique_ptr<StatusBoard> board_;         // rank 0 with an endpoint
  mutable std::mutex monitor_mutex_;           // connect() sets monitor_ while serving
  std::unique_ptr<HeartbeatMonitor> monitor_;  // rank 0 with heartbeats
  std::unique_ptr<HeartbeatSender> sender_;    // every rank with heartbeats
  std::unique_ptr<StatusServer> server_;       // last member: stopped first
};

}  // namespace vlm::monitor
