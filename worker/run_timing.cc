#include "worker/run_timing.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/store.h"
#include "common/files.h"

namespace vlm::worker {
namespace {

void read_step_times(const std::string& path, RunTiming& timing) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    // A killed run may have left half a line; what parses counts.
    const auto object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!object.is_object() || !object.contains("step_time_s")) continue;
    const auto& value = object["step_time_s"];
    if (!value.is_number()) continue;
    timing.step_s = std::max(timing.step_s, value.get<double>());
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
