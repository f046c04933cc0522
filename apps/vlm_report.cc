// vlm-report RUN_DIR [--out report.png]: draws a run's metrics (loss per term, gradient norm,
// throughput, learning rate, stage boundaries) into a PNG and prints a summary table per stage.
#include <CLI/CLI.hpp>

#include <iostream>

#include "apps/main_support.h"
#include "checkpoint/run_layout.h"
#include "monitor/metrics_file.h"
#include "report/run_report.h"

namespace {

int report_main(int argc, char** argv) {
  CLI::App app{"vlm-report: a PNG of a run's metrics and a summary table per stage"};
  std::string run_dir;
  std::string out;
  app.add_option("run_dir", run_dir, "the run directory (holds metrics.jsonl)")->required();
  app.add_option("--out", out, "the PNG to write (default: RUN_DIR/report.png)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const vlm::checkpoint::RunLayout layout{run_dir, /*checkpoint_dir=*/""};
  if (out.empty()) out = layout.root + "/report.png";

  const vlm::monitor::RunMetrics run = vlm::monitor::read_metrics(layout.metrics_jsonl());
  if (run.rows.empty()) {
    std::cerr << "vlm-report: " << layout.metrics_jsonl() << " has no step yet\n";
    return vlm::apps::kExitUsage;
  }
  const vlm::report::Canvas figure = vlm::report::draw_report(run, run_dir);
  figure.write_png(out);
  std::cout << "run " << run_dir << ": " << run.rows.size() << " steps in " << run.stages.size()
            << " stage(s)";
  if (run.broken_lines > 0) std::cout << ", " << run.broken_lines << " broken line(s) skipped";
  if (run.repeated_steps > 0) {
    std::cout << ", " << run.repeated_steps << " step(s) logged again after a resume (last kept)";
  }
  std::cout << "\n";
  for (const std::string& line : vlm::report::summary_table(run)) std::cout << line << "\n";
  std::cout << "figure: " << out << " (" << figure.width() << " x " << figure.height() << ")\n";
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, report_main); }
