#include "monitor/run_observer.h"

namespace vlm::monitor {

std::vector<NamedValue> StepMetrics::named_values() const {
  std::vector<NamedValue> values = {
      {metric::kLoss, loss},
      {metric::kLr, lr},
      {metric::kGradNorm, grad_norm},
      {metric::kTokensPerS, tokens_per_s},
      {metric::kMfu, mfu},
      {metric::kStepTime, step_time_s},
      {metric::kTokens, static_cast<double>(tokens), true},
      {metric::kSamplesSeen, static_cast<double>(samples_seen), true}};
  for (const auto& [name, value] : loss_terms) {
    values.push_back({metric::kLossTermPrefix + name, value});
  }
  if (skipped_steps > 0) {
    values.push_back({metric::kSkippedSteps, static_cast<double>(skipped_steps), true});
  }
  if (checkpoint_blocked_ms >= 0)
    values.push_back({metric::kCheckpointBlocked, checkpoint_blocked_ms});
  return values;
}

}  // namespace vlm::monitor
