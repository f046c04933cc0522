#include "report/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace vlm::report {
namespace {

constexpr Rgb kInk{30, 30, 30};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kStageLine{150, 150, 150};
constexpr Rgb kPaper{255, 255, 255};
// Room around the plot area for the title, tick labels and the x axis label.
constexpr int kLeft = 72, kRight = 16, kTop = 30, kBottom = 38;
constexpr int kTickLength = 4;

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  bool empty() const { return low > high; }
  // A flat series still gets an axis: widened around its value.
  void widen_if_flat() {
    if (empty()) *this = {0.0, 1.0};
    if (high - low < 1e-12 * std::max(1.0, std::fabs(high))) {
      const double pad = std::fabs(low) > 0 ? std::fabs(low) * 0.1 : 1.0;
      low -= pad;
      high += pad;
    }
  }
};

// Maps data to pixels in the plot area (y grows upwards in data, downwards in pixels).
struct Mapping {
  Box area;
  Range x, y;
  int px(double v) const {
    return area.x +
           static_cast<int>(std::lround((v - x.low) / (x.high - x.low) * (area.width - 1)));
  }
  int py(double v) const {
    return area.y + area.height - 1 -
           static_cast<int>(std::lround((v - y.low) / (y.high - y.low) * (area.height - 1)));
  }
};

void draw_series(Canvas& canvas, const Mapping& map, const Series& series) {
  bool have_previous = false;
  int last_x = 0, last_y = 0;
  for (size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
    if (!std::isfinite(series.y[i])) {
      have_previous = false;
      continue;
    }
    const int x = map.px(series.x[i]);
    const int y = map.py(series.y[i]);
    if (have_previous) {
      // Two pixels thick, so a curve reads against the grid.
      canvas.line(last_x, last_y, x, y, series.colour);
      canvas.line(last_x, last_y + 1, x, y + 1, series.colour);
    } else {
      canvas.fill_rect(x, y, 2, 2, series.colour);
    }
    last_x = x;
    last_y = y;
    have_previous = true;
  }
}

void draw_axes(Canvas& canvas, const Mapping& map) {
  const Box& a = map.area;
  const std::vector<double> y_ticks = nice_ticks(map.y.low, map.y.high, 5);
  const double y_spacing = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1.0;
  for (const double v : y_ticks) {
    const int y = map.py(v);
    canvas.line(a.x, y, a.x + a.width - 1, y, kGrid);
    canvas.line(a.x - kTickLength, y, a.x - 1, y, kInk);
    const std::string label = tick_label(v, y_spacing);
    canvas.text(a.x - kTickLength - 3 - Canvas::text_width(label), y - Canvas::text_height() / 2,
                label, kInk);
  }
  const std::vector<double> x_ticks = nice_ticks(map.x.low, map.x.high, 6);
  const double x_spacing = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1.0;
  for (const double v : x_ticks) {
    const int x = map.px(v);
    canvas.line(x, a.y, x, a.y + a.height - 1, kGrid);
    canvas.line(x, a.y + a.height, x, a.y + a.height + kTickLength - 1, kInk);
    const std::string label = tick_label(v, x_spacing);
    canvas.text(x - Canvas::text_width(label) / 2, a.y + a.height + kTickLength + 3, label, kInk);
  }
  // The frame.
  canvas.line(a.x - 1, a.y, a.x - 1, a.y + a.height, kInk);
  canvas.line(a.x - 1, a.y + a.height, a.x + a.width - 1, a.y + a.height, kInk);
  canvas.line(a.x - 1, a.y - 1, a.x + a.width - 1, a.y - 1, kInk);
  canvas.line(a.x + a.width, a.y - 1, a.x + a.width, a.y + a.height, kInk);
}

void draw_stage_marks(Canvas& canvas, const Mapping& map, const std::vector<StageMark>& stages) {
  const Box& a = map.area;
  for (const StageMark& stage : stages) {
    if (stage.x < map.x.low || stage.x > map.x.high) continue;
    const int x = map.px(stage.x);
    if (stage.x > map.x.low) canvas.line(x, a.y, x, a.y + a.height - 1, kStageLine, 4);
    canvas.text(x + 3, a.y + 3, stage.name, kStageLine);
  }
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!(high > low) || target < 1) return {low};
  const double raw = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double normalized = raw / magnitude;
  const double spacing = (normalized < 1.5   ? 1.0
                          : normalized < 3.0 ? 2.0
                          : normalized < 7.0 ? 5.0
                                             : 10.0) *
                         magnitude;
  std::vector<double> ticks;
  for (double v = std::ceil(low / spacing) * spacing; v <= high + spacing * 1e-9; v += spacing) {
    ticks.push_back(std::fabs(v) < spacing * 1e-9 ? 0.0 : v);
  }
  return ticks;
}

std::string tick_label(double value, double spacing) {
  char text[32];
  const double magnitude = std::max(std::fabs(value), spacing);
  if (magnitude >= 1e6 || (spacing < 1e-3 && value != 0.0)) {
    std::snprintf(text, sizeof(text), "%.1e", value);
  } else {
    const int decimals =
        spacing >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(spacing) - 1e-9));
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  }
  return text;
}

void draw_chart(Canvas& canvas, const Box& box, const Chart& chart) {
  canvas.fill_rect(box.x, box.y, box.width, box.height, kPaper);
  Mapping map;
  map.area = {box.x + kLeft, box.y + kTop, box.width - kLeft - kRight, box.height - kTop - kBottom};
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      map.x.add(s.x[i]);
      map.y.add(s.y[i]);
    }
  }
  map.x.widen_if_flat();
  map.y.widen_if_flat();
  // Headroom so the curve does not run along the frame.
  const double pad = (map.y.high - map.y.low) * 0.05;
  map.y.low -= pad;
  map.y.high += pad;

  canvas.text(box.x + kLeft, box.y + 8, chart.title, kInk, 2);
  draw_axes(canvas, map);
  draw_stage_marks(canvas, map, chart.stages);
  for (const Series& s : chart.series) draw_series(canvas, map, s);
  canvas.text(map.area.x + map.area.width - Canvas::text_width(chart.x_label),
              box.y + box.height - Canvas::text_height() - 4, chart.x_label, kInk);
}

}  // namespace vlm::report
