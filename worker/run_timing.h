// How long a run's steps and checkpoint saves took, read back from its run directory: what
// vlm-launch needs to size Slurm's warning before a kill.
#pragma once

#include <string>

#include "checkpoint/run_layout.h"

namespace vlm::worker {

struct RunTiming {
  double step_s = 0.0;  // the slowest logged step
  double save_s = 0.0;  // the slowest committed checkpoint's save (copy + write, rank 0)
  int64_t steps = 0;    // steps the numbers come from
  int64_t saves = 0;    // checkpoints they come from
};

// Reads the run's metrics.jsonl and its committed checkpoints' manifests; zeros for what is not
// there.
RunTiming measure_run_timing(const checkpoint::RunLayout& layout);

}  // namespace vlm::worker
