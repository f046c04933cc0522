// The one ETA: steps timed over a window, so a slow start or a checkpoint's pause fades out.
#include "monitor/step_rate.h"

#include <gtest/gtest.h>

namespace vlm::monitor {
namespace {

using std::chrono::seconds;

TEST(StepRate, UnknownBeforeTheFirstStep) {
  StepRate rate;
  const StepRate::Clock::time_point start{};
  rate.restart(start);
  EXPECT_LT(rate.seconds_per_step(), 0);
  EXPECT_LT(rate.eta_s(0, 10), 0);
  EXPECT_EQ(rate.tokens_per_s(), 0.0);
}

TEST(StepRate, EtaIsTheRemainingStepsAtTheWindowsPace) {
  StepRate rate;
  const StepRate::Clock::time_point start{};
  rate.restart(start);
  for (int step = 1; step <= 4; ++step) rate.step_done(start + seconds(2 * step), 100, 8);
  EXPECT_DOUBLE_EQ(rate.seconds_per_step(), 2.0);
  EXPECT_DOUBLE_EQ(rate.eta_s(4, 10), 12.0);
  EXPECT_DOUBLE_EQ(rate.tokens_per_s(), 50.0);
  EXPECT_DOUBLE_EQ(rate.samples_per_s(), 4.0);
}

TEST(StepRate, ASlowStartLeavesTheWindow) {
  StepRate rate;
  const StepRate::Clock::time_point start{};
  rate.restart(start);
  auto at = start + seconds(100);  // the first step: warm-up
  rate.step_done(at, 1, 1);
  for (size_t i = 0; i < StepRate::kWindowSteps; ++i) {
    at += seconds(1);
    rate.step_done(at, 1, 1);
  }
  EXPECT_DOUBLE_EQ(rate.seconds_per_step(), 1.0);
}

}  // namespace
}  // namespace vlm::monitor
