// How fast a stage's recent steps went, and so when it ends: the one ETA of a run, shown by the
// progress line and served by the status endpoint alike.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

namespace vlm::monitor {

class StepRate {
 public:
  using Clock = std::chrono::steady_clock;

  // A stage (or its resumed part) starts: the window starts empty.
  void restart(Clock::time_point at);
  void step_done(Clock::time_point at, int64_t tokens, int64_t samples);

  // Over the last steps (at most kWindowSteps); < 0 (seconds) or 0 (rates) before the first.
  double seconds_per_step() const;
  double tokens_per_s() const;
  double samples_per_s() const;
  // Seconds until step total_steps, from step `step`; < 0 while unknown.
  double eta_s(int64_t step, int64_t total_steps) const;

  // Long enough to smooth a checkpoint's pause, short enough to follow a change of speed.
  static constexpr size_t kWindowSteps = 20;

 private:
  struct Tick {
    Clock::time_point at;
    int64_t tokens = 0;
    int64_t samples = 0;
  };
  double window_seconds() const;
  double rate(int64_t Tick::*count) const;

  std::deque<Tick> window_;  // the restart or the step before the window's first, then its steps
};

}  // namespace vlm::monitor
