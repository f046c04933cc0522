// Learning-rate schedules: linear warmup, then cosine, constant or linear decay.
#pragma once

#include <cstdint>

#include "recipes/recipe.h"

namespace vlm::worker {

// The learning rate for step (0-based) of total_steps.
double learning_rate(const recipes::ScheduleSection& schedule, double base_lr, int64_t step,
                     int64_t total_steps);
// Warmup length in steps: warmup_steps when set, else ceil(warmup_ratio * total_steps).
int64_t warmup_steps(const recipes::ScheduleSection& schedule, int64_t total_steps);

}  // namespace vlm::worker
