#include "worker/run_timing.h"

#include <algorithm>
#include <cmath>

#include "checkpoint/store.h"
#include "common/files.h"
#include "monitor/metrics_file.h"
#include "monitor/run_observer.h"

namespace vlm::worker {
namespace {

void read_step_times(const std::string& path, RunTiming& timing) {
  if (!files::exists(path)) return;
  for (const monitor::MetricsRow& row : monitor::read_metrics(path).rows) {
    const auto time = row.values.find(monitor::metric::kStepTime);
    if (time == row.values.end() || !std::isfinite(time->second)) continue;
    timing.step_s = std::max(timing.step_s, time->second);
    ++timing.steps;
  }
}

void read_save_times(const std::string& root, RunTiming& timing) {
  if (!files::exists(root)) return;
  const checkpoint::CheckpointStore store(root);
  for (const auto& entry : store.list()) {
    if (!entry.committed) continue;
    try {
      const auto manifest =
          checkpoint::read_manifest(files::join(entry.path, checkpoint::kManifestName));
      const auto found = manifest.counters.find("save_seconds");
      if (found == manifest.counters.end()) continue;
      timing.save_s = std::max(timing.save_s, found->second);
      ++timing.saves;
    } catch (const std::exception&) {
      // An unreadable manifest tells nothing about time; resume's checks report it.
    }
  }
}

}  // namespace

RunTiming measure_run_timing(const checkpoint::RunLayout& layout) {
  RunTiming timing;
  read_step_times(layout.metrics_jsonl(), timing);
  read_save_times(layout.checkpoints(), timing);
  return timing;
}

}  // namespace vlm::worker
