// Per-step metrics as JSON Lines (<run_dir>/metrics.jsonl): one object per optimizer step.
#pragma once

#include <fstream>
#include <map>
#include <string>

#include "monitor/run_observer.h"

namespace vlm::monitor {

class MetricsLog : public RunObserver {
 public:
  // Appends to path (a resumed run continues the same file).
  explicit MetricsLog(const std::string& path);
  void write(const StepMetrics& metrics);
  void step_done(const StepMetrics& metrics) override { write(metrics); }

 private:
  std::ofstream out_;
  std::string path_;
};

}  // namespace vlm::monitor
