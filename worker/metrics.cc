#include "worker/metrics.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vlm::worker {

MetricsLog::MetricsLog(const std::string& path) : out_(path, std::ios::app), path_(path) {
  VLM_CHECK(out_, IoError, "cannot open metrics file ", path);
}

void MetricsLog::write(const StepMetrics& m) {
  nlohmann::ordered_json line = {{"step", m.step},
                                 {"stage", m.stage},
                                 {"loss", m.loss},
                                 {"lr", m.lr},
                                 {"grad_norm", m.grad_norm},
                                 {"tokens_per_s", m.tokens_per_s},
                                 {"step_time_s", m.step_time_s},
                                 {"tokens", m.tokens},
                                 {"samples_seen", m.samples_seen}};
  for (const auto& [name, value] : m.loss_terms) line["loss/" + name] = value;
  out_ << line.dump() << '\n';
  out_.flush();
  VLM_CHECK(out_, IoError, "cannot write metrics file ", path_);
}

}  // namespace vlm::worker
