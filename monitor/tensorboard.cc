#include "monitor/tensorboard.h"

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/log.h"

namespace vlm::monitor {

int64_t last_step_in(const std::string& dir) {
  int64_t last = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().filename().string().find("tfevents") == std::string::npos) continue;
    for (const std::string& event : tfevents::read_records(entry.path().string())) {
      last = std::max(last, tfevents::event_step(event));
    }
  }
  return last;
}

TensorBoardLog::TensorBoardLog(const std::string& dir)
    : written_through_(last_step_in(dir)), file_(dir) {}

void TensorBoardLog::step_done(const StepMetrics& m) {
  if (failed_ || m.run_step <= written_through_) return;
  std::vector<tfevents::Scalar> scalars;
  for (const NamedValue& v : m.named_values()) {
    scalars.push_back({v.name, static_cast<float>(v.value)});
  }
  try {
    file_.write_scalars(m.run_step, scalars);
  } catch (const Error& e) {
    // A full disk must not stop training: metrics.jsonl and the checkpoints say what matters.
    log::warn("TensorBoard: {}; no more events are written", e.what());
    failed_ = true;
  }
}

}  // namespace vlm::monitor
