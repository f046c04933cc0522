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
  nlohmann::ordered_json line = {{"step", m.step}, {"stage", m.stage}, {"run_step", m.run_step}};
  for (const NamedValue& v : m.named_values()) {
    if (v.integral) {
      line[v.name] = static_cast<int64_t>(v.value);
    } else {
      line[v.name] = v.value;
    }
  }
  if (m.skipped) line["skipped"] = true;
  out_ << line.dump() << '\n';
  out_.flush();
  VLM_CHECK(out_, IoError, "cannot write metrics file ", path_);
}

}  // namespace vlm::monitor
