// What watches a run from inside the worker: the metrics file, TensorBoard, the progress display,
// the status endpoint. The trainer tells each observer where the run is; observers only read, and
// their failures must not stop training (they log and carry on), except where they say otherwise.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vlm::monitor {

// The names of a step's numbers, the same for every writer and reader: metrics.jsonl's keys,
// TensorBoard's tags, vlm-report's series, the stage summaries.
namespace metric {
inline constexpr char kLoss[] = "loss";
inline constexpr char kLossTermPrefix[] = "loss/";  // + the term's name (text_ce, image_l2, ...)
inline constexpr char kLr[] = "lr";
inline constexpr char kGradNorm[] = "grad_norm";
inline constexpr char kTokensPerS[] = "tokens_per_s";
inline constexpr char kMfu[] = "mfu";
inline constexpr char kStepTime[] = "step_time_s";
inline constexpr char kTokens[] = "tokens";
inline constexpr char kSamplesSeen[] = "samples_seen";
inline constexpr char kSkippedSteps[] = "skipped_steps";
inline constexpr char kCheckpointBlocked[] = "checkpoint_blocked_ms";
}  // namespace metric

struct NamedValue {
  std::string name;  // a metric:: name
  double value = 0.0;
  bool integral = false;  // a count: written as an integer
};

struct StepMetrics {
  int64_t step = 0;  // 1-based within the stage
  std::string stage;
  int64_t run_step = 0;  // 1-based over the whole run: the steps of earlier stages plus step
  double loss = 0.0;
  std::map<std::string, double> loss_terms;  // named terms, logged as loss/<name>
  double lr = 0.0;
  double grad_norm = 0.0;
  double tokens_per_s = 0.0;
  // Model FLOP/s of the step over the peak FLOP/s of all ranks (StageStart::peak_flops).
  double mfu = 0.0;
  double step_time_s = 0.0;
  int64_t tokens = 0;
  int64_t samples_seen = 0;   // global sample counter at the end of the step
  bool skipped = false;       // not applied: its loss or gradient norm was not finite
  int64_t skipped_steps = 0;  // in the stage so far
  // The time this step's loop was blocked starting a checkpoint (copying the state); < 0: none.
  double checkpoint_blocked_ms = -1.0;
  bool preempted = false;  // a rank got a preemption signal (not logged: the step is saved)

  // The step's numbers by name, in the order they are logged: loss, lr, grad_norm, tokens_per_s,
  // mfu, step_time_s, tokens, samples_seen, loss/<term> for each term, then skipped_steps and
  // checkpoint_blocked_ms where they apply. step, stage, run_step and skipped are not numbers
  // of the step but where it stands and whether it applied.
  std::vector<NamedValue> named_values() const;
};

struct StageStart {
  std::string stage;
  int64_t stage_index = 0;  // 0-based
  int64_t stage_count = 1;
  int64_t first_step = 0;  // steps already done (a resumed stage starts past 0)
  int64_t total_steps = 0;
  int64_t run_steps_before = 0;  // steps of the earlier stages: run_step = this + step
  int64_t global_batch_size = 0;
  // Model FLOPs per trained token (6 x parameters the step runs + attention), for MFU.
  double flops_per_token = 0.0;
  // Peak FLOP/s of all ranks together: training.peak_tflops_per_rank x ranks, or measured.
  double peak_flops = 0.0;
  bool peak_measured = false;
};

struct CheckpointStarted {
  std::string stage;
  int64_t step = 0;  // steps done in the stage
  bool preemption = false;
};

// A checkpoint a resume would use: committed by this run, or the one it resumed from.
struct CheckpointCommitted {
  std::string dir;
  std::string stage;
  int64_t step = 0;  // steps done in the stage
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void stage_started(const StageStart& /*start*/) {}
  virtual void step_done(const StepMetrics& /*metrics*/) {}
  virtual void checkpoint_started(const CheckpointStarted& /*checkpoint*/) {}
  // On rank 0 only (it commits).
  virtual void checkpoint_committed(const CheckpointCommitted& /*checkpoint*/) {}
  virtual void run_finished(bool /*preempted*/) {}
};

// Forwards each call to every observer, in order.
class ObserverList : public RunObserver {
 public:
  void add(RunObserver* observer) {
    if (observer != nullptr) observers_.push_back(observer);
  }
  void stage_started(const StageStart& start) override {
    for (auto* o : observers_) o->stage_started(start);
  }
  void step_done(const StepMetrics& metrics) override {
    for (auto* o : observers_) o->step_done(metrics);
  }
  void checkpoint_started(const CheckpointStarted& checkpoint) override {
    for (auto* o : observers_) o->checkpoint_started(checkpoint);
  }
  void checkpoint_committed(const CheckpointCommitted& checkpoint) override {
    for (auto* o : observers_) o->checkpoint_committed(checkpoint);
  }
  void run_finished(bool preempted) override {
    for (auto* o : observers_) o->run_finished(preempted);
  }

 private:
  std::vector<RunObserver*> observers_;
};

}  // namespace vlm::monitor
