#include "worker/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vlm::worker {
namespace {

TEST(Schedule, WarmupRisesLinearlyToTheBaseRate) {
  recipes::ScheduleSection schedule;
  schedule.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(learning_rate(schedule, 1.0, 0, 100), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate(schedule, 1.0, 3, 100), 1.0);
}

TEST(Schedule, WarmupRatioRoundsUp) {
  recipes::ScheduleSection schedule;
  schedule.warmup_ratio = 0.03;
  EXPECT_EQ(warmup_steps(schedule, 100), 3);
  EXPECT_EQ(warmup_steps(schedule, 101), 4);
}

TEST(Schedule, CosineFallsFromBaseToMinimum) {
  recipes::ScheduleSection schedule;
  schedule.warmup_steps = 10;
  schedule.min_lr_ratio = 0.1;
  const int64_t total = 110;
  EXPECT_DOUBLE_EQ(learning_rate(schedule, 2.0, 10, total), 2.0);
  EXPECT_NEAR(learning_rate(schedule, 2.0, 60, total), 0.2 + 1.8 * 0.5, 1e-12);
  EXPECT_NEAR(learning_rate(schedule, 2.0, 110, total), 0.2, 1e-12);
}

TEST(Schedule, ConstantAndLinear) {
  recipes::ScheduleSection schedule;
  schedule.warmup_steps = 1;
  schedule.type = recipes::ScheduleKind::kConstant;
  EXPECT_DOUBLE_EQ(learning_rate(schedule, 3.0, 50, 100), 3.0);
  schedule.type = recipes::ScheduleKind::kLinear;
  EXPECT_NEAR(learning_rate(schedule, 3.0, 51, 101), 1.5, 1e-12);  // (51 - 1) / 100 of decay
}

}  // namespace
}  // namespace vlm::worker
