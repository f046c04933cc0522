// vlm-report's content: the figure of a run (a chart per loss term, gradient norm, throughput,
// learning rate, stage boundaries marked) and its summary table per stage.
#pragma once

#include <string>
#include <vector>

#include "monitor/metrics_file.h"
#include "report/canvas.h"

namespace vlm::report {

// The figure's layout: two charts a row under a title band.
constexpr int kFigureWidth = 1280;
constexpr int kChartHeight = 300;
constexpr int kTitleHeight = 40;
constexpr int kChartsPerRow = 2;

// The metrics.jsonl keys charted, in order: "loss", each "loss/<term>" when there is more than
// one term (one term is the loss), grad_norm, tokens_per_s, lr.
std::vector<std::string> charted_keys(const monitor::RunMetrics& run);

Canvas draw_report(const monitor::RunMetrics& run, const std::string& title);

// Per stage: steps, time (the steps' own time), mean tokens/s, first and last value of the loss
// and of each term.
std::vector<std::string> summary_table(const monitor::RunMetrics& run);

}  // namespace vlm::report
