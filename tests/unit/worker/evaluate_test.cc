#include "worker/evaluate.h"

#include <gtest/gtest.h>

#include "worker/trainer.h"

namespace vlm::worker {
namespace {

TEST(Evaluate, AnswersAreComparedCaseAndPunctuationFree) {
  EXPECT_EQ(normalize_answer("  Top Left.\n"), "top left");
  EXPECT_EQ(normalize_answer("RED"), "red");
  EXPECT_EQ(normalize_answer(""), "");
}

TEST(Trainer, StageStepsFollowEpochsOrMaxSteps) {
  recipes::TrainingSection training;
  training.global_batch_size = 64;
  training.epochs = 2.5;
  EXPECT_EQ(stage_steps(training, 1000), 39);  // floor(2500 / 64)
  training.max_steps = 7;
  EXPECT_EQ(stage_steps(training, 1000), 7);
}

}  // namespace
}  // namespace vlm::worker
