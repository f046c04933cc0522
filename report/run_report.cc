#include "report/run_report.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "common/text_format.h"
#include "monitor/stage_summary.h"
#include "report/chart.h"

namespace vlm::report {
namespace {

using monitor::MetricsRow;
using monitor::RunMetrics;

constexpr Rgb kBackground{245, 245, 245};
constexpr Rgb kTitleInk{30, 30, 30};
// Distinct, colour-blind-friendlier hues (Okabe and Ito's choice), one per chart in turn.
constexpr Rgb kPalette[] = {{0, 114, 178},   {213, 94, 0},  {0, 158, 115},
                            {204, 121, 167}, {230, 159, 0}, {86, 180, 233}};

std::vector<std::string> loss_terms(const RunMetrics& run) {
  std::set<std::string> terms;
  for (const MetricsRow& row : run.rows) {
    for (const auto& entry : row.values) {
      if (entry.first.rfind(monitor::metric::kLossTermPrefix, 0) == 0) terms.insert(entry.first);
    }
  }
  return {terms.begin(), terms.end()};
}

std::vector<StageMark> stage_marks(const RunMetrics& run) {
  std::vector<StageMark> marks;
  std::string current;
  for (const MetricsRow& row : run.rows) {
    if (marks.empty() || row.stage != current) {
      marks.push_back({static_cast<double>(row.run_step), row.stage});
      current = row.stage;
    }
  }
  return marks;
}

Series series_of(const RunMetrics& run, const std::string& key, Rgb colour) {
  Series series;
  series.colour = colour;
  for (const MetricsRow& row : run.rows) {
    const auto value = row.values.find(key);
    if (value == row.values.end()) continue;
    series.x.push_back(static_cast<double>(row.run_step));
    series.y.push_back(value->second);
  }
  return series;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), std::fabs(value) >= 1e4 ? "%.0f" : "%.4g", value);
  return text;
}

}  // namespace

std::vector<std::string> charted_keys(const RunMetrics& run) {
  std::vector<std::string> keys{monitor::metric::kLoss};
  const std::vector<std::string> terms = loss_terms(run);
  if (terms.size() > 1) keys.insert(keys.end(), terms.begin(), terms.end());
  keys.insert(keys.end(),
              {monitor::metric::kGradNorm, monitor::metric::kTokensPerS, monitor::metric::kLr});
  return keys;
}

Canvas draw_report(const RunMetrics& run, const std::string& title) {
  const std::vector<std::string> keys = charted_keys(run);
  const int rows = (static_cast<int>(keys.size()) + kChartsPerRow - 1) / kChartsPerRow;
  Canvas canvas(kFigureWidth, kTitleHeight + rows * kChartHeight, kBackground);
  canvas.text(16, (kTitleHeight - Canvas::text_height(2)) / 2, title, kTitleInk, 2);
  const std::vector<StageMark> marks = stage_marks(run);
  const int width = kFigureWidth / kChartsPerRow;
  for (size_t i = 0; i < keys.size(); ++i) {
    Chart chart;
    chart.title = keys[i];
    chart.x_label = "step (over the run)";
    chart.series.push_back(series_of(run, keys[i], kPalette[i % std::size(kPalette)]));
    chart.stages = marks;
    const int column = static_cast<int>(i) % kChartsPerRow;
    const int row = static_cast<int>(i) / kChartsPerRow;
    // A 4-pixel gutter between charts.
    draw_chart(
        canvas,
        {column * width + 2, kTitleHeight + row * kChartHeight + 2, width - 4, kChartHeight - 4},
        chart);
  }
  return canvas;
}

std::vector<std::string> summary_table(const RunMetrics& run) {
  std::vector<std::string> losses{monitor::metric::kLoss};
  for (const std::string& term : loss_terms(run)) losses.push_back(term);
  std::vector<std::vector<std::string>> table{{"stage", "steps", "time", "tokens/s"}};
  for (const std::string& loss : losses) table[0].push_back(loss + " first -> last");
  for (const std::string& stage : run.stages) {
    monitor::StageSummary summary;
    for (const MetricsRow& row : run.rows) {
      if (row.stage == stage) summary.add(row.step, row.values);
    }
    if (summary.steps == 0) continue;
    std::vector<std::string> cells{stage,
                                   std::to_string(summary.steps) + " (" +
                                       std::to_string(summary.first_step) + ".." +
                                       std::to_string(summary.last_step) + ")",
                                   format_duration(summary.seconds),
                                   summary.seconds > 0 ? number(summary.tokens_per_s()) : "?"};
    for (const std::string& loss : losses) {
      const auto a = summary.first_losses.find(loss);
      const auto b = summary.last_losses.find(loss);
      cells.push_back(a == summary.first_losses.end() || b == summary.last_losses.end()
                          ? "-"
                          : number(a->second) + " -> " + number(b->second));
    }
    table.push_back(cells);
  }
  return format_table(table);
}

}  // namespace vlm::report
