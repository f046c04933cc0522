#include "monitor/stage_summary.h"

#include <fmt/format.h>

#include <utility>

namespace vlm::monitor {
namespace {

bool is_loss(const std::string& name) {
  return name == metric::kLoss || name.rfind(metric::kLossTermPrefix, 0) == 0;
}

}  // namespace

void StageSummary::add(int64_t step, const std::map<std::string, double>& values) {
  std::map<std::string, double> losses;
  for (const auto& [name, value] : values) {
    if (is_loss(name)) losses[name] = value;
  }
  if (steps == 0) {
    first_step = step;
    first_losses = losses;
  }
  last_step = step;
  last_losses = std::move(losses);
  ++steps;
  if (const auto time = values.find(metric::kStepTime); time != values.end()) {
    seconds += time->second;
  }
  if (const auto count = values.find(metric::kTokens); count != values.end()) {
    tokens += count->second;
  }
}

void StageSummary::add(const StepMetrics& metrics) {
  std::map<std::string, double> values;
  for (const NamedValue& v : metrics.named_values()) values[v.name] = v.value;
  add(metrics.step, values);
}

std::string StageSummary::losses_text() const {
  // One term is the loss itself: not repeated.
  const bool terms = first_losses.size() > 2;
  std::string text;
  for (const auto& [name, first] : first_losses) {
    const auto last = last_losses.find(name);
    if (last == last_losses.end() || (!terms && name != metric::kLoss)) continue;
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {:.4f} -> {:.4f}", name, first, last->second);
  }
  return text;
}

}  // namespace vlm::monitor
