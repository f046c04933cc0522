#include "monitor/status_board.h"

namespace vlm::monitor {

StatusBoard::StatusBoard(std::string run_dir, std::string job_id, int world_size)
    : created_(Clock::now()) {
  status_.run_dir = std::move(run_dir);
  status_.job_id = std::move(job_id);
  status_.world_size = world_size;
}

void StatusBoard::stage_started(const StageStart& start) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_.state = "training";
  status_.stage = start.stage;
  status_.stage_index = start.stage_index;
  status_.stage_count = start.stage_count;
  status_.step = start.first_step;
  status_.total_steps = start.total_steps;
  status_.eta_s = kUnknown;
  status_.skipped_steps = 0;
  rate_.restart(Clock::now());
}

void StatusBoard::step_done(const StepMetrics& m) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  status_.step = m.step;
  status_.loss = m.loss;
  status_.losses = m.loss_terms;
  status_.lr = m.lr;
  status_.grad_norm = m.grad_norm;
  status_.tokens_per_s = m.tokens_per_s;
  status_.skipped_steps = m.skipped_steps;
  rate_.step_done(now, m.tokens, /*samples=*/0);
  const double eta = rate_.eta_s(m.step, status_.total_steps);
  if (eta >= 0) status_.eta_s = eta;
}

void StatusBoard::checkpoint_committed(const CheckpointCommitted& checkpoint) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_.last_checkpoint = CheckpointRecord{checkpoint.dir, checkpoint.stage, checkpoint.step};
}

void StatusBoard::run_finished(bool preempted) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_.state = preempted ? "preempted" : "finished";
  status_.eta_s = preempted ? kUnknown : 0.0;
}

RunStatus StatusBoard::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  RunStatus copy = status_;
  copy.uptime_s = std::chrono::duration<double>(Clock::now() - created_).count();
  return copy;
}

}  // namespace vlm::monitor
