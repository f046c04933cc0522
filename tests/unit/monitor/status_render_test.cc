// /status and /metrics bodies: every field a dashboard reads, unknown numbers as null (JSON) or
// absent (Prometheus), labels escaped, and an exposition a Prometheus parser accepts line by line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "monitor/status_render.h"

namespace vlm::monitor {
namespace {

RunStatus training_status() {
  RunStatus s;
  s.run_dir = "/runs/tiny";
  s.job_id = "4242";
  s.world_size = 2;
  s.state = "training";
  s.stage = "stage1";
  s.stage_index = 0;
  s.stage_count = 2;
  s.step = 12;
  s.total_steps = 100;
  s.loss = 1.0 / 3.0;
  s.losses = {{"text_ce", 0.25}, {"image_l2", 1e-7}};
  s.lr = 2e-5;
  s.grad_norm = 0.5;
  s.tokens_per_s = 1234.5;
  s.eta_s = 88.0;
  s.last_checkpoint = CheckpointRecord{"/runs/tiny/checkpoints/s0-step8", "stage1", 8};
  s.heartbeat_timeout_s = 60;
  RankHeartbeat r0;
  r0.rank = 0;
  r0.host = "node-a";
  r0.age_s = 0.5;
  r0.seen = true;
  RankHeartbeat r1 = r0;
  r1.rank = 1;
  r1.host = "node-b";
  r1.age_s = 61.0;
  r1.silent = true;
  s.ranks = {r0, r1};
  return s;
}

TEST(StatusJson, HoldsProgressLossesCheckpointAndHeartbeats) {
  const auto j = nlohmann::json::parse(status_json(training_status()));
  EXPECT_EQ(j["run_dir"], "/runs/tiny");
  EXPECT_EQ(j["job_id"], "4242");
  EXPECT_EQ(j["stage"], "stage1");
  EXPECT_EQ(j["step"], 12);
  EXPECT_EQ(j["total_steps"], 100);
  EXPECT_EQ(j["loss"].get<double>(), 1.0 / 3.0);  // exact: the shortest round-trip text
  EXPECT_EQ(j["losses"]["text_ce"], 0.25);
  EXPECT_EQ(j["losses"]["image_l2"], 1e-7);
  EXPECT_EQ(j["tokens_per_s"], 1234.5);
  EXPECT_EQ(j["eta_s"], 88.0);
  EXPECT_EQ(j["last_checkpoint"]["step"], 8);
  EXPECT_EQ(j["last_checkpoint"]["dir"], "/runs/tiny/checkpoints/s0-step8");
  ASSERT_EQ(j["ranks"].size(), 2u);
  EXPECT_EQ(j["ranks"][1]["rank"], 1);
  EXPECT_EQ(j["ranks"][1]["host"], "node-b");
  EXPECT_EQ(j["ranks"][1]["heartbeat_age_s"], 61.0);
  EXPECT_EQ(j["ranks"][1]["silent"], true);
}

TEST(StatusJson, UnknownNumbersAreNullAndNoCheckpointIsNull) {
  const auto j = nlohmann::json::parse(status_json(RunStatus{}));
  EXPECT_EQ(j["state"], "starting");
  EXPECT_TRUE(j["loss"].is_null());
  EXPECT_TRUE(j["eta_s"].is_null());
  EXPECT_TRUE(j["last_checkpoint"].is_null());
  EXPECT_TRUE(j["ranks"].is_array());
  EXPECT_TRUE(j["losses"].is_object());
}

TEST(StatusJson, InvalidUtf8InAPathDoesNotThrow) {
  RunStatus s;
  s.run_dir = "/runs/\xff\xfe";
  EXPECT_NO_THROW(nlohmann::json::parse(status_json(s)));
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(StatusPrometheus, NamesTheBriefAsksFor) {
  const std::string text = status_prometheus(training_status());
  EXPECT_TRUE(has_line(text, "vlm_step 12")) << text;
  EXPECT_TRUE(has_line(text, "vlm_total_steps 100"));
  EXPECT_TRUE(has_line(text, "vlm_loss{term=\"text_ce\"} 0.25"));
  EXPECT_TRUE(has_line(text, "vlm_loss{term=\"image_l2\"} 1e-07"));
  EXPECT_TRUE(has_line(text, "vlm_step_loss 0.3333333333333333"));
  EXPECT_TRUE(has_line(text, "vlm_tokens_per_second 1234.5"));
  EXPECT_TRUE(has_line(text, "vlm_eta_seconds 88"));
  EXPECT_TRUE(has_line(text, "vlm_heartbeat_age_seconds{rank=\"1\",host=\"node-b\"} 61"));
  EXPECT_TRUE(has_line(text, "vlm_rank_silent{rank=\"1\",host=\"node-b\"} 1"));
  EXPECT_TRUE(has_line(text, "vlm_rank_silent{rank=\"0\",host=\"node-a\"} 0"));
  EXPECT_TRUE(has_line(
      text,
      "vlm_last_checkpoint_step{stage=\"stage1\",dir=\"/runs/tiny/checkpoints/s0-step8\"} 8"));
  EXPECT_TRUE(has_line(text,
                       "vlm_info{run_dir=\"/runs/tiny\",job_id=\"4242\",state=\"training\","
                       "stage=\"stage1\"} 1"));
}

TEST(StatusPrometheus, UnknownValuesAreLeftOutWithTheirFamilies) {
  const std::string text = status_prometheus(RunStatus{});
  EXPECT_EQ(text.find("vlm_step_loss"), std::string::npos) << text;
  EXPECT_EQ(text.find("vlm_eta_seconds"), std::string::npos);
  EXPECT_EQ(text.find("vlm_heartbeat_age_seconds"), std::string::npos);
  EXPECT_EQ(text.find("vlm_last_checkpoint_step"), std::string::npos);
  EXPECT_TRUE(has_line(text, "vlm_step 0"));
}

TEST(StatusPrometheus, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  RunStatus s;
  s.run_dir = "/runs/\"odd\"\nname\\";
  EXPECT_NE(status_prometheus(s).find("run_dir=\"/runs/\\\"odd\\\"\\nname\\\\\""),
            std::string::npos);
}

// Every line is a comment or a sample of a family whose HELP and TYPE came first, once each.
TEST(StatusPrometheus, EverySampleBelongsToADeclaredFamily) {
  RunStatus s = training_status();
  s.run_dir = "/x\"y";
  s.grad_norm = std::numeric_limits<double>::infinity();
  const std::string text = status_prometheus(s);
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? )"
      R"(([-+]?[0-9.e+-]+|\+Inf|-Inf))");
  std::set<std::string> helped, typed;
  std::istringstream lines(text);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) {
      EXPECT_TRUE(helped.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.count(name)) << line;
      EXPECT_TRUE(typed.insert(name).second) << line;
      EXPECT_EQ(line, "# TYPE " + name + " gauge");
    } else {
      ASSERT_TRUE(std::regex_match(line, m, sample)) << "'" << line << "'";
      EXPECT_TRUE(typed.count(m[1].str())) << line;
      ++samples;
    }
  }
  EXPECT_GT(samples, 20);
  EXPECT_TRUE(has_line(text, "vlm_grad_norm +Inf"));
}

}  // namespace
}  // namespace vlm::monitor
