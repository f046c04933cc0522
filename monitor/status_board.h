// The trainer's view of the run, kept for the status endpoint: a RunObserver on rank 0 that
// records each stage start, step and committed checkpoint into a RunStatus, and hands out copies.
// The training thread holds the lock for a copy of a few fields per step; readers the same.
#pragma once

#include <chrono>
#include <mutex>

#include "monitor/run_observer.h"
#include "monitor/run_status.h"
#include "monitor/step_rate.h"

namespace vlm::monitor {

class StatusBoard : public RunObserver {
 public:
  StatusBoard(std::string run_dir, std::string job_id, int world_size);

  void stage_started(const StageStart& start) override;
  void step_done(const StepMetrics& metrics) override;
  void checkpoint_committed(const CheckpointCommitted& checkpoint) override;
  void run_finished(bool preempted) override;

  // The run as of the last call above (heartbeats not included: the monitor has those).
  RunStatus snapshot() const;

 private:
  using Clock = std::chrono::steady_clock;

  mutable std::mutex mutex_;
  RunStatus status_;
  Clock::time_point created_;
  StepRate rate_;  // the ETA, as the progress line computes it
};

}  // namespace vlm::monitor
