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
  auto add = [&](const std::string& tag, double value) {
    scalars.push_back({tag, static_cast<float>(value)});
  };
  add("loss", m.loss);
  for (const auto& [name, value] : m.loss_terms) add("loss/" + name, value);
  add("lr", m.lr);
  add("grad_norm", m.grad_norm);
  add("tokens_per_s", m.tokens_per_s);
  add("mfu", m.mfu);
  add("step_time_s", m.step_time_s);
  add("tokens", static_cast<double>(m.tokens));
  add("samples_seen", static_cast<double>(m.samples_seen));
  if (m.skipped_steps > 0) add("skipped_steps", static_cast<double>(m.skipped_steps));
  if (m.checkpoint_blocked_ms >= 0) add("checkpoint_blocked_ms", m.checkpoint_blocked_ms);
  try {
    file_.write_scalars(m.run_step, scalars);
  } catch (const Error& e) {
    // A full disk must not stop training: metrics.jsonl and the checkpoints say what matters.
    log::warn("TensorBoard: {}; no more events are written", e.what());
    failed_ = true;
  }
}

}  // namespace vlm::monitor
