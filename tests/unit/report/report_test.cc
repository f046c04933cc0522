#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "monitor/metrics_file.h"
#include "report/canvas.h"
#include "report/chart.h"
#include "report/font.h"
#include "report/run_report.h"
#include "tests/support/temp_dir.h"

namespace vlm::report {
namespace {

using monitor::read_metrics;
using monitor::RunMetrics;

TEST(Ticks, AreRoundAndCoverTheRange) {
  EXPECT_EQ(nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(1, 299, 6), (std::vector<double>{50, 100, 150, 200, 250}));
  const auto small = nice_ticks(0.00012, 0.00098, 4);
  ASSERT_FALSE(small.empty());
  EXPECT_NEAR(small[1] - small[0], 2e-4, 1e-12);
  EXPECT_EQ(tick_label(1500, 500), "1500");
  EXPECT_EQ(tick_label(0.25, 0.05), "0.25");
  EXPECT_EQ(tick_label(2e-5, 1e-5), "2.0e-05");
  EXPECT_EQ(tick_label(0, 1e-5), "0.00000");
}

TEST(Font, HasEveryCharacterALabelUses) {
  const std::string used =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,-+/:%()_=[]<>";
  const Glyph& missing = glyph_of('\x01');
  for (const char c : used) EXPECT_NE(&glyph_of(c), &missing) << "no glyph for '" << c << "'";
}

TEST(Canvas, DrawsTextAndLinesWhereAsked) {
  Canvas canvas(40, 20, {255, 255, 255});
  canvas.line(0, 0, 39, 19, {255, 0, 0});
  EXPECT_EQ(canvas.pixels()[0], 255);
  EXPECT_EQ(canvas.pixels()[1], 0);  // (0, 0) is red
  const size_t last = (19 * 40 + 39) * 3;
  EXPECT_EQ(canvas.pixels()[last + 1], 0);  // and so is (39, 19)
  Canvas text(20, 10, {255, 255, 255});
  text.text(1, 1, "1", {0, 0, 0});
  int dark = 0;
  for (size_t i = 0; i < text.pixels().size(); i += 3) dark += text.pixels()[i] == 0;
  EXPECT_EQ(dark, 10);  // the glyph '1' has ten pixels on
  EXPECT_EQ(Canvas::text_width("ab", 2), 22);
}

class MetricsFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    const std::string path = dir_.file("metrics.jsonl");
    std::ofstream(path) << text;
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(MetricsFileTest, SkipsBrokenLinesAndKeepsTheLastOfARepeatedStep) {
  const RunMetrics run = read_metrics(
      write("{\"step\":1,\"stage\":\"a\",\"loss\":3.0,\"loss/text_ce\":3.0,\"lr\":0.1}\n"
            "{\"step\":2,\"stage\":\"a\",\"loss\":2.5,\"lr\":0.1}\n"
            "{\"step\":3,\"stage\":\"a\",\"lo\n"
            "{\"step\":2,\"stage\":\"a\",\"loss\":2.4,\"lr\":0.1}\n"
            "{\"step\":1,\"stage\":\"b\",\"loss\":null}\n"
            "not json\n"));
  EXPECT_EQ(run.broken_lines, 2);
  EXPECT_EQ(run.repeated_steps, 1);
  ASSERT_EQ(run.rows.size(), 3u);
  EXPECT_EQ(run.stages, (std::vector<std::string>{"a", "b"}));
  EXPECT_DOUBLE_EQ(run.rows[1].values.at("loss"), 2.4);
  // No run_step in these lines: stage b follows a's last step.
  EXPECT_EQ(run.rows[2].run_step, 3);
  EXPECT_TRUE(std::isnan(run.rows[2].values.at("loss")));
}

TEST_F(MetricsFileTest, ReportHasAChartPerKeyAndATableRowPerStage) {
  std::string text;
  for (int step = 1; step <= 20; ++step) {
    const std::string stage = step <= 8 ? "pretrain" : "finetune";
    const int in_stage = step <= 8 ? step : step - 8;
    text += "{\"step\":" + std::to_string(in_stage) + ",\"stage\":\"" + stage +
            "\",\"run_step\":" + std::to_string(step) + ",\"loss\":" + std::to_string(4.0 / step) +
            ",\"lr\":0.001,\"grad_norm\":1.5,\"tokens_per_s\":" + std::to_string(1000 + step) +
            ",\"step_time_s\":0.5,\"tokens\":500,\"loss/text_ce\":" + std::to_string(3.0 / step) +
            ",\"loss/image_l2\":" + std::to_string(1.0 / step) + "}\n";
  }
  const RunMetrics run = read_metrics(write(text));
  const auto keys = charted_keys(run);
  EXPECT_EQ(keys, (std::vector<std::string>{"loss", "loss/image_l2", "loss/text_ce", "grad_norm",
                                            "tokens_per_s", "lr"}));
  const Canvas figure = draw_report(run, "run");
  EXPECT_EQ(figure.width(), kFigureWidth);
  EXPECT_EQ(figure.height(), kTitleHeight + 3 * kChartHeight);
  std::set<uint32_t> colours;
  for (size_t i = 0; i < figure.pixels().size(); i += 3) {
    colours.insert(figure.pixels()[i] << 16 | figure.pixels()[i + 1] << 8 | figure.pixels()[i + 2]);
  }
  EXPECT_GE(colours.size(), 8u);  // paper, ink, grid, stage lines and six curve colours

  const auto table = summary_table(run);
  ASSERT_EQ(table.size(), 4u);  // header, rule, two stages
  EXPECT_NE(table[2].find("pretrain"), std::string::npos);
  EXPECT_NE(table[2].find("8 (1..8)"), std::string::npos);
  EXPECT_NE(table[2].find("4 -> 0.5"), std::string::npos);  // loss first -> last
  EXPECT_NE(table[3].find("12 (1..12)"), std::string::npos);
}

}  // namespace
}  // namespace vlm::report
