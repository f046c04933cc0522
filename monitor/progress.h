// Rank 0's view of a run for a person: on a terminal one line rewritten in place (stage, step,
// loss, tokens/s, MFU, ETA); elsewhere (a log file, a Slurm job) the same as plain log lines
// every training.log_every steps; at the end a summary table per stage.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "monitor/run_observer.h"
#include "monitor/stage_summary.h"
#include "monitor/step_rate.h"
#include "recipes/recipe.h"

namespace vlm::monitor {

enum class ProgressStyle {
  kLine,   // a terminal: the line is rewritten in place
  kPlain,  // a log file: a line every training.log_every steps and at each stage's end
};

class ProgressDisplay : public RunObserver {
 public:
  // columns: the terminal's width for kLine (0: unknown); the line is cut to fit.
  ProgressDisplay(const recipes::Recipe& recipe, ProgressStyle style, int columns = 0);
  void stage_started(const StageStart& start) override;
  void step_done(const StepMetrics& metrics) override;
  void run_finished(bool preempted) override;

  // The progress text for the last step (for tests and the status line).
  std::string describe(const StepMetrics& metrics) const;

 private:
  using Clock = std::chrono::steady_clock;
  // What the summary says of a stage run by this process.
  struct StageRecord {
    StageSummary summary;
    int64_t total_steps = 0;
    double flops_per_token = 0.0;
    double peak_flops = 0.0;
  };

  double run_eta_after_stage() const;  // < 0: unknown
  std::vector<std::string> summary_lines() const;

  const recipes::Recipe& recipe_;
  ProgressStyle style_;
  int columns_ = 0;
  StageStart stage_;
  Clock::time_point last_draw_;
  StepRate rate_;
  std::vector<StageRecord> stages_;
};

}  // namespace vlm::monitor
