#include "monitor/metrics_file.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/error.h"

namespace vlm::monitor {
namespace {

using Json = nlohmann::json;

bool parse_row(const std::string& line, MetricsRow& row) {
  const Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("stage") || !json["stage"].is_string() ||
      !json.contains("step") || !json["step"].is_number_integer()) {
    return false;
  }
  row.stage = json["stage"].get<std::string>();
  row.step = json["step"].get<int64_t>();
  if (json.contains("run_step") && json["run_step"].is_number_integer()) {
    row.run_step = json["run_step"].get<int64_t>();
  }
  for (const auto& [key, value] : json.items()) {
    if (key == "step" || key == "run_step" || key == "stage") continue;
    if (value.is_number()) row.values[key] = value.get<double>();
    if (value.is_null()) row.values[key] = std::numeric_limits<double>::quiet_NaN();
  }
  return true;
}

// Files from before run_step: each stage starts after the earlier stages' highest step.
void number_missing_run_steps(RunMetrics& run) {
  std::map<std::string, int64_t> last_step;
  for (const MetricsRow& row : run.rows) {
    last_step[row.stage] = std::max(last_step[row.stage], row.step);
  }
  std::map<std::string, int64_t> offset;
  int64_t before = 0;
  for (const std::string& stage : run.stages) {
    offset[stage] = before;
    before += last_step[stage];
  }
  for (MetricsRow& row : run.rows) {
    if (row.run_step <= 0) row.run_step = offset[row.stage] + row.step;
  }
}

}  // namespace

RunMetrics read_metrics(const std::string& path) {
  std::ifstream in(path);
  VLM_CHECK(in, IoError, "cannot open ", path);
  RunMetrics run;
  std::map<std::pair<std::string, int64_t>, size_t> row_of_step;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    MetricsRow row;
    if (!parse_row(line, row)) {
      ++run.broken_lines;
      continue;
    }
    if (std::find(run.stages.begin(), run.stages.end(), row.stage) == run.stages.end()) {
      run.stages.push_back(row.stage);
    }
    const auto key = std::make_pair(row.stage, row.step);
    const auto seen = row_of_step.find(key);
    if (seen != row_of_step.end()) {
      run.rows[seen->second] = std::move(row);
      ++run.repeated_steps;
    } else {
      row_of_step[key] = run.rows.size();
      run.rows.push_back(std::move(row));
    }
  }
  number_missing_run_steps(run);
  std::stable_sort(run.rows.begin(), run.rows.end(), [](const MetricsRow& a, const MetricsRow& b) {
    return a.run_step < b.run_step;
  });
  return run;
}

}  // namespace vlm::monitor
