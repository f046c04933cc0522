// A run's metrics.jsonl read back: one row per optimizer step, in run order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vlm::monitor {

struct MetricsRow {
  std::string stage;
  int64_t step = 0;      // within the stage
  int64_t run_step = 0;  // over the run
  // Every number of the line by its key (loss, loss/<term>, lr, tokens_per_s, ...); NaN where
  // the line had null (a non-finite loss).
  std::map<std::string, double> values;
};

struct RunMetrics {
  std::vector<MetricsRow> rows;     // by run_step, one per step
  std::vector<std::string> stages;  // in the order they ran
  int64_t broken_lines = 0;         // not JSON, or without step and stage (a run killed mid-line)
  int64_t repeated_steps = 0;       // logged again by a resumed run: its line wins
};

// Reads path. A step logged twice (a run killed after its last checkpoint trains the steps since
// again when it resumes) keeps its last line. Lines without run_step (files written before it
// existed) get the earlier stages' highest steps added to their step.
RunMetrics read_metrics(const std::string& path);

}  // namespace vlm::monitor
