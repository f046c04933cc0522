#include "monitor/metrics.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vlm::monitor {

namespace {

// A run killed while writing a line leaves half of it: end it, so the resumed run's lines start
// on their own (readers skip the broken one).
void end_last_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in || in.tellg() <= 0) return;
  in.seekg(-1, std::ios::end);
  char last = '\n';
  in.get(last);
  if (last != '\n') std::ofstream(path, std::ios::app) << '\n';
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  end_last_line(path);
  out_.open(path, std::ios::app);
  VLM_CHECK(out_, IoError, "cannot open metrics file ", path);
}

void MetricsLog::write(const StepMetrics& m) {
  nlohmann::ordered_json line = {{"step", m.step},
                                 {"stage", m.stage},
                                 {"run_step", m.run_step},
                                 {"loss", m.loss},
                                 {"lr", m.lr},
                                 {"grad_norm", m.grad_norm},
                                 {"tokens_per_s", m.tokens_per_s},
                                 {"mfu", m.mfu},
                                 {"step_time_s", m.step_time_s},
                                 {"tokens", m.tokens},
                                 {"samples_seen", m.samples_seen}};
  for (const auto& [name, value] : m.loss_terms) line["loss/" + name] = value;
  if (m.skipped) line["skipped"] = true;
  if (m.skipped_steps > 0) line["skipped_steps"] = m.skipped_steps;
  if (m.checkpoint_blocked_ms >= 0) line["checkpoint_blocked_ms"] = m.checkpoint_blocked_ms;
  out_ << line.dump() << '\n';
  out_.flush();
  VLM_CHECK(out_, IoError, "cannot write metrics file ", path_);
}

}  // namespace vlm::monitor
