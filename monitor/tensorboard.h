// Every step's metrics as TensorBoard scalars under <run_dir>/tensorboard/, written by rank 0.
// Tags are metrics.jsonl's keys (loss, loss/<term>, lr, grad_norm, tokens_per_s, mfu, ...); the
// step is the run-global step (StepMetrics::run_step), so stages follow each other on one axis.
#pragma once

#include <string>

#include "monitor/run_observer.h"
#include "monitor/tfevents.h"

namespace vlm::monitor {

class TensorBoardLog : public RunObserver {
 public:
  // A resumed run writes a new file beside the earlier ones and leaves out the steps they hold
  // already (a run killed past its last checkpoint trains those steps again): TensorBoard would
  // otherwise draw them twice.
  explicit TensorBoardLog(const std::string& dir);
  void step_done(const StepMetrics& metrics) override;
  const std::string& path() const { return file_.path(); }

 private:
  int64_t written_through_ = 0;  // the highest step in the directory's earlier files
  tfevents::EventFile file_;
  bool failed_ = false;
};

// The highest step of any event in the directory's event files; 0 when there is none.
int64_t last_step_in(const std::string& dir);

}  // namespace vlm::monitor
