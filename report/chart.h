// One line chart: a framed plot area with ticks, tick labels, a title, stage boundaries and
// one or more series.
#pragma once

#include <string>
#include <vector>

#include "report/canvas.h"

namespace vlm::report {

struct Series {
  std::vector<double> x, y;  // a non-finite y breaks the line
  Rgb colour;
};

struct StageMark {
  double x = 0;  // where the stage begins
  std::string name;
};

struct Chart {
  std::string title;
  std::string x_label;
  std::vector<Series> series;
  std::vector<StageMark> stages;
};

struct Box {
  int x = 0, y = 0, width = 0, height = 0;
};

void draw_chart(Canvas& canvas, const Box& box, const Chart& chart);

// About `target` round values (1, 2 or 5 times a power of ten apart) covering [low, high].
std::vector<double> nice_ticks(double low, double high, int target);
// A tick's label with as many decimals as the spacing needs ("0.25", "1500", "2.0e-05").
std::string tick_label(double value, double spacing);

}  // namespace vlm::report
