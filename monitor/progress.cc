#include "monitor/progress.h"

#include <cmath>

#include "common/log.h"
#include "common/status_line.h"
#include "common/text_format.h"

namespace vlm::monitor {
namespace {

// A terminal line is redrawn at most this often (and at a stage's last step).
constexpr double kRedrawSeconds = 0.1;

std::string fixed(double value, int digits) { return fmt::format("{:.{}f}", value, digits); }

}  // namespace

ProgressDisplay::ProgressDisplay(const recipes::Recipe& recipe, ProgressStyle style, int columns)
    : recipe_(recipe), style_(style), columns_(columns) {}

void ProgressDisplay::stage_started(const StageStart& start) {
  stage_ = start;
  rate_.restart(Clock::now());
  StageRecord record;
  record.summary.stage = start.stage;
  record.total_steps = start.total_steps;
  record.flops_per_token = start.flops_per_token;
  record.peak_flops = start.peak_flops;
  stages_.push_back(record);
  if (start.first_step >= start.total_steps) return;  // resumed at its end: nothing to train
  log::info(
      "stage '{}' ({}/{}): steps {}..{} of {}, {:.3g} GFLOP per token, peak {:.1f} GFLOP/s "
      "({})",
      start.stage, start.stage_index + 1, start.stage_count, start.first_step + 1,
      start.total_steps, start.total_steps, start.flops_per_token / 1e9, start.peak_flops / 1e9,
      start.peak_measured ? "measured" : "training.peak_tflops_per_rank");
}

void ProgressDisplay::step_done(const StepMetrics& m) {
  const auto now = Clock::now();
  rate_.step_done(now, m.tokens, stage_.global_batch_size);

  StageSummary& summary = stages_.back().summary;
  summary.add(m);

  const bool stage_end = m.step == stage_.total_steps;
  if (style_ == ProgressStyle::kLine) {
    if (stage_end || std::chrono::duration<double>(now - last_draw_).count() >= kRedrawSeconds) {
      std::string line = describe(m);
      if (columns_ > 1 && static_cast<int>(line.size()) >= columns_) line.resize(columns_ - 1);
      log::show_status_line(line);
      last_draw_ = now;
    }
    if (stage_end) log::end_status_line();
    return;
  }
  const int64_t every = recipe_.stages[static_cast<size_t>(stage_.stage_index)].training.log_every;
  if (m.step % every == 0 || stage_end || m.preempted || summary.steps == 1) {
    log::info("{}", describe(m));
  }
}

// The later stages at this stage's speed in samples: known when each sets training.max_steps
// (epochs need the stage's loader to count its steps).
double ProgressDisplay::run_eta_after_stage() const {
  const double samples_per_s = rate_.samples_per_s();
  if (samples_per_s <= 0) return -1.0;
  double samples = 0.0;
  for (size_t i = static_cast<size_t>(stage_.stage_index) + 1; i < recipe_.stages.size(); ++i) {
    const recipes::TrainingSection& training = recipe_.stages[i].training;
    if (training.max_steps <= 0) return -1.0;
    samples += static_cast<double>(training.max_steps * training.global_batch_size);
  }
  return samples / samples_per_s;
}

std::string ProgressDisplay::describe(const StepMetrics& m) const {
  std::string text =
      fmt::format("{} {}/{} | step {}/{} ({:.0f}%) | loss {:.4f}", m.stage, stage_.stage_index + 1,
                  stage_.stage_count, m.step, stage_.total_steps,
                  100.0 * static_cast<double>(m.step) /
                      static_cast<double>(std::max<int64_t>(1, stage_.total_steps)),
                  m.loss);
  if (m.loss_terms.size() > 1) {
    for (const auto& [name, value] : m.loss_terms) text += fmt::format(" {} {:.4f}", name, value);
  }
  const bool timed = rate_.seconds_per_step() >= 0;
  const double tokens_per_s = timed ? rate_.tokens_per_s() : m.tokens_per_s;
  text += fmt::format(" | lr {:.2e} | grad_norm {:.3f} | {:.0f} tok/s", m.lr, m.grad_norm,
                      tokens_per_s);
  if (stage_.peak_flops > 0) {
    text += " | MFU " +
            fixed(100.0 * stage_.flops_per_token * tokens_per_s / stage_.peak_flops, 2) + "%";
  }
  const double stage_eta = rate_.eta_s(m.step, stage_.total_steps);
  if (rate_.seconds_per_step() > 0) {
    text += " | ETA " + format_duration(stage_eta);
    if (stage_.stage_index + 1 < stage_.stage_count) {
      const double after = run_eta_after_stage();
      text += ", run " + (after >= 0 ? "~" + format_duration(stage_eta + after) : "?");
    }
  }
  if (m.skipped) text += " | step skipped (not finite)";
  return text;
}

std::vector<std::string> ProgressDisplay::summary_lines() const {
  std::vector<std::vector<std::string>> rows{
      {"stage", "steps", "time", "tokens/s", "MFU", "loss first -> last"}};
  for (const StageRecord& record : stages_) {
    const StageSummary& s = record.summary;
    if (s.steps == 0) continue;
    const double mfu =
        record.peak_flops > 0 ? record.flops_per_token * s.tokens_per_s() / record.peak_flops : 0.0;
    rows.push_back({s.stage,
                    fmt::format("{}..{} of {}", s.first_step, s.last_step, record.total_steps),
                    format_duration(s.seconds), fixed(s.tokens_per_s(), 0),
                    fixed(100.0 * mfu, 2) + "%", s.losses_text()});
  }
  return format_table(rows);
}

void ProgressDisplay::run_finished(bool preempted) {
  if (style_ == ProgressStyle::kLine) log::end_status_line();
  log::info("summary ({}; this process's steps):", preempted ? "preempted, saved" : "finished");
  for (const std::string& line : summary_lines()) log::info("  {}", line);
}

}  // namespace vlm::monitor
