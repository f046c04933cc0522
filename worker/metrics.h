// Per-step metrics as JSON Lines (<run_dir>/metrics.jsonl): one object per optimizer step.
#pragma once

#include <fstream>
#include <map>
#include <string>

namespace vlm::worker {

struct StepMetrics {
  int64_t step = 0;  // 1-based within the stage
  std::string stage;
  double loss = 0.0;
  std::map<std::string, double> loss_terms;  // named terms, logged as loss/<name>
  double lr = 0.0;
  double grad_norm = 0.0;
  double tokens_per_s = 0.0;
  double step_time_s = 0.0;
  int64_t tokens = 0;
  int64_t samples_seen = 0;   // global sample counter at the end of the step
  bool skipped = false;       // not applied: its loss or gradient norm was not finite
  int64_t skipped_steps = 0;  // in the stage so far
  // The time this step's loop was blocked starting a checkpoint (copying the state); < 0: none.
  double checkpoint_blocked_ms = -1.0;
  bool preempted = false;  // a rank got a preemption signal (not logged: the step is saved)
};

class MetricsLog {
 public:
  // Appends to path (a resumed run continues the same file).
  explicit MetricsLog(const std::string& path);
  void write(const StepMetrics& metrics);

 private:
  std::ofstream out_;
  std::string path_;
};

}  // namespace vlm::worker
