// What one stage's steps amount to, added up one way wherever a summary is shown: the trainer's
// "stage done" line, the progress display's table at the end of a run and vlm-report's table.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "monitor/run_observer.h"

namespace vlm::monitor {

struct StageSummary {
  std::string stage;
  int64_t first_step = 0;  // the first and last step added (1-based within the stage)
  int64_t last_step = 0;
  int64_t steps = 0;
  double seconds = 0.0;  // the steps' step_time_s added up
  double tokens = 0.0;
  // "loss" and each loss/<term>, at the first and at the last step added.
  std::map<std::string, double> first_losses, last_losses;

  // One step, by its numbers' metric names (a metrics.jsonl line's, or named_values()).
  void add(int64_t step, const std::map<std::string, double>& values);
  void add(const StepMetrics& metrics);

  double tokens_per_s() const { return seconds > 0 ? tokens / seconds : 0.0; }
  // "loss 5.7900 -> 1.0252" and, when the objective has more than one term, each term's.
  std::string losses_text() const;
};

}  // namespace vlm::monitor
