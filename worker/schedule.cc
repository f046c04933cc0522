#include "worker/schedule.h"

#include <algorithm>
#include <cmath>

namespace vlm::worker {

int64_t warmup_steps(const recipes::ScheduleSection& schedule, int64_t total_steps) {
  if (schedule.warmup_steps > 0) return schedule.warmup_steps;
  return static_cast<int64_t>(std::ceil(schedule.warmup_ratio * static_cast<double>(total_steps)));
}

double learning_rate(const recipes::ScheduleSection& schedule, double base_lr, int64_t step,
                     int64_t total_steps) {
  const int64_t warmup = warmup_steps(schedule, total_steps);
  if (step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (schedule.type == recipes::ScheduleKind::kConstant) return base_lr;
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / decay_steps);
  const double min_lr = base_lr * schedule.min_lr_ratio;
  const double shape = schedule.type == recipes::ScheduleKind::kLinear
                           ? 1.0 - progress
                           : 0.5 * (1.0 + std::cos(M_PI * progress));
  return min_lr + (base_lr - min_lr) * shape;
}

}  // namespace vlm::worker
