#include "monitor/progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace vlm::monitor {
namespace {

recipes::Recipe two_stages(int64_t second_stage_max_steps) {
  recipes::Recipe recipe;
  recipe.stages.resize(2);
  recipe.stages[0].name = "pretrain";
  recipe.stages[0].training.max_steps = 10;
  recipe.stages[1].name = "finetune";
  recipe.stages[1].training.max_steps = second_stage_max_steps;
  return recipe;
}

StageStart first_stage() {
  StageStart start;
  start.stage = "pretrain";
  start.stage_index = 0;
  start.stage_count = 2;
  start.total_steps = 10;
  start.global_batch_size = 8;
  start.flops_per_token = 1e6;
  start.peak_flops = 1e12;
  return start;
}

StepMetrics step(int64_t n) {
  StepMetrics m;
  m.stage = "pretrain";
  m.step = n;
  m.run_step = n;
  m.loss = 2.5;
  m.loss_terms = {{"text_ce", 2.0}, {"image_l2", 5.0}};
  m.tokens = 1000;
  m.tokens_per_s = 1000;
  return m;
}

// The line after two steps 20 ms apart.
std::string line_after_two_steps(const recipes::Recipe& recipe) {
  ProgressDisplay display(recipe, ProgressStyle::kPlain);
  display.stage_started(first_stage());
  display.step_done(step(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  display.step_done(step(2));
  return display.describe(step(2));
}

TEST(ProgressDisplay, LineSaysWhereTheRunIsAndWhenItEnds) {
  const std::string line = line_after_two_steps(two_stages(30));
  for (const char* part :
       {"pretrain 1/2 | step 2/10 (20%) | loss 2.5000 image_l2 5.0000 text_ce 2.0000", "tok/s",
        "| MFU ", "| ETA ", ", run ~"}) {
    EXPECT_NE(line.find(part), std::string::npos) << "no '" << part << "' in: " << line;
  }
}

// A later stage that counts epochs has no step count before its loader exists.
TEST(ProgressDisplay, RunEtaUnknownWhenALaterStageCountsEpochs) {
  EXPECT_NE(line_after_two_steps(two_stages(0)).find(", run ?"), std::string::npos);
}

}  // namespace
}  // namespace vlm::monitor
