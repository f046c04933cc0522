#include "monitor/step_rate.h"

namespace vlm::monitor {

void StepRate::restart(Clock::time_point at) {
  window_.clear();
  window_.push_back({at, 0, 0});
}

void StepRate::step_done(Clock::time_point at, int64_t tokens, int64_t samples) {
  if (window_.empty()) restart(at);
  window_.push_back({at, tokens, samples});
  if (window_.size() > kWindowSteps + 1) window_.pop_front();
}

double StepRate::window_seconds() const {
  return std::chrono::duration<double>(window_.back().at - window_.front().at).count();
}

double StepRate::seconds_per_step() const {
  if (window_.size() < 2) return -1.0;
  return window_seconds() / static_cast<double>(window_.size() - 1);
}

double StepRate::rate(int64_t Tick::*count) const {
  if (window_.size() < 2) return 0.0;
  int64_t sum = 0;
  for (size_t i = 1; i < window_.size(); ++i) sum += window_[i].*count;
  const double seconds = window_seconds();
  return seconds > 0 ? static_cast<double>(sum) / seconds : 0.0;
}

double StepRate::tokens_per_s() const { return rate(&Tick::tokens); }
double StepRate::samples_per_s() const { return rate(&Tick::samples); }

double StepRate::eta_s(int64_t step, int64_t total_steps) const {
  const double per_step = seconds_per_step();
  if (per_step < 0) return -1.0;
  return per_step * static_cast<double>(total_steps - step);
}

}  // namespace vlm::monitor
