// Everything that watches a run, built in one place (vlm-worker's main): on rank 0 the metrics
// file, TensorBoard and the progress display; on every rank the run watch (heartbeats, and on
// rank 0 the status endpoint). The trainer sees one RunObserver.
#pragma once

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "cluster/world.h"
#include "monitor/heartbeat.h"
#include "monitor/metrics.h"
#include "monitor/progress.h"
#include "monitor/run_observer.h"
#include "monitor/run_watch.h"
#include "monitor/tensorboard.h"
#include "recipes/recipe.h"

namespace vlm::monitor {

struct MonitorSetup {
  std::string run_dir;        // the run's directory (the status endpoint's address file)
  std::string metrics_jsonl;  // rank 0 appends a line per step
  std::string tensorboard;    // rank 0's event files
  ProgressStyle progress_style = ProgressStyle::kPlain;
  int terminal_columns = 0;  // for ProgressStyle::kLine; 0: unknown
  // Runs on rank 0's heartbeat thread when a rank falls silent (cluster.heartbeat_timeout_s).
  HeartbeatMonitor::SilenceHandler on_silent_rank;
};

class RunMonitor {
 public:
  RunMonitor(const recipes::Recipe& recipe, const cluster::World& world, MonitorSetup setup);

  // Collective (every rank, same point, before training): see RunWatch::connect.
  void connect(cluster::Communicator& comm) { watch_.connect(comm); }

  // What the trainer tells of stages, steps and checkpoints; forwarded to every part in order:
  // metrics file, display, TensorBoard, watch.
  RunObserver& observer() { return observers_; }

 private:
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<ProgressDisplay> display_;
  std::unique_ptr<TensorBoardLog> tensorboard_;
  RunWatch watch_;
  ObserverList observers_;
};

}  // namespace vlm::monitor
