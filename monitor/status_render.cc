#include "monitor/status_render.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace vlm::monitor {
namespace {

using Json = nlohmann::ordered_json;

Json number_or_null(double value) { return std::isnan(value) ? Json(nullptr) : Json(value); }

Json losses_json(const RunStatus& status) {
  Json losses = Json::object();
  for (const auto& [term, value] : status.losses) losses[term] = number_or_null(value);
  return losses;
}

Json checkpoint_json(const std::optional<CheckpointRecord>& checkpoint) {
  if (!checkpoint) return nullptr;
  return {{"dir", checkpoint->dir}, {"stage", checkpoint->stage}, {"step", checkpoint->step}};
}

Json ranks_json(const std::vector<RankHeartbeat>& ranks) {
  Json out = Json::array();
  for (const auto& r : ranks) {
    out.push_back({{"rank", r.rank},
                   {"host", r.host},
                   {"step", r.step},
                   {"heartbeat_age_s", number_or_null(r.age_s)},
                   {"seen", r.seen},
                   {"finished", r.finished},
                   {"silent", r.silent}});
  }
  return out;
}

// Prometheus writes +Inf, -Inf; the shortest text that reads back the same double otherwise.
std::string prometheus_number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes one metric family: its HELP and TYPE lines, then one sample per (labels, value),
// leaving out unknown values (and the whole family when none is known).
class Exposition {
 public:
  void gauge(const std::string& name, const std::string& help,
             const std::vector<std::pair<Labels, double>>& samples) {
    std::string lines;
    for (const auto& [labels, value] : samples) {
      if (std::isnan(value)) continue;
      lines += name + label_text(labels) + " " + prometheus_number(value) + "\n";
    }
    if (lines.empty()) return;
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n" + lines;
  }
  void gauge(const std::string& name, const std::string& help, double value) {
    gauge(name, help, {{Labels{}, value}});
  }
  std::string text() const { return out_; }

 private:
  static std::string label_text(const Labels& labels) {
    if (labels.empty()) return "";
    std::string text = "{";
    for (const auto& [key, value] : labels) {
      text += (text.size() > 1 ? "," : "") + key + "=\"" + prometheus_label_value(value) + "\"";
    }
    return text + "}";
  }

  std::string out_;
};

void progress_families(const RunStatus& s, Exposition& out) {
  out.gauge(
      "vlm_info", "The run (labels; the value is always 1).",
      {{{{"run_dir", s.run_dir}, {"job_id", s.job_id}, {"state", s.state}, {"stage", s.stage}},
        1.0}});
  out.gauge("vlm_world_size", "Ranks in the job.", s.world_size);
  out.gauge("vlm_stage_index", "The current stage, 0-based.", static_cast<double>(s.stage_index));
  out.gauge("vlm_stage_count", "Stages in the recipe.", static_cast<double>(s.stage_count));
  out.gauge("vlm_step", "Optimizer steps done in the current stage.", static_cast<double>(s.step));
  out.gauge("vlm_total_steps", "Optimizer steps the current stage takes.",
            static_cast<double>(s.total_steps));
  out.gauge("vlm_skipped_steps", "Steps of the stage not applied (non-finite loss or gradient).",
            static_cast<double>(s.skipped_steps));
  out.gauge("vlm_step_loss", "The last step's loss (the weighted sum of its terms).", s.loss);
  std::vector<std::pair<Labels, double>> terms;
  for (const auto& [term, value] : s.losses) terms.push_back({{{"term", term}}, value});
  out.gauge("vlm_loss", "The last step's loss terms.", terms);
  out.gauge("vlm_learning_rate", "The last step's learning rate.", s.lr);
  out.gauge("vlm_grad_norm", "The last step's gradient norm before clipping.", s.grad_norm);
  out.gauge("vlm_tokens_per_second", "Trained tokens per second over the last step.",
            s.tokens_per_s);
  out.gauge("vlm_eta_seconds", "Estimated seconds to the end of the current stage.", s.eta_s);
  out.gauge("vlm_uptime_seconds", "Seconds since rank 0 started watching the run.", s.uptime_s);
}

void checkpoint_family(const RunStatus& s, Exposition& out) {
  if (!s.last_checkpoint) return;
  const CheckpointRecord& c = *s.last_checkpoint;
  out.gauge("vlm_last_checkpoint_step", "Steps done in its stage by the last committed checkpoint.",
            {{{{"stage", c.stage}, {"dir", c.dir}}, static_cast<double>(c.step)}});
}

void heartbeat_families(const RunStatus& s, Exposition& out) {
  std::vector<std::pair<Labels, double>> ages, silent, steps;
  for (const auto& r : s.ranks) {
    const Labels labels = {{"rank", std::to_string(r.rank)}, {"host", r.host}};
    ages.push_back({labels, r.age_s});
    silent.push_back({labels, r.silent ? 1.0 : 0.0});
    steps.push_back({labels, static_cast<double>(r.step)});
  }
  out.gauge("vlm_heartbeat_age_seconds", "Seconds since the rank's last heartbeat.", ages);
  out.gauge("vlm_heartbeat_step", "The step the rank's last heartbeat carried.", steps);
  out.gauge("vlm_rank_silent", "1 when the rank was silent past the heartbeat timeout.", silent);
  out.gauge("vlm_heartbeat_timeout_seconds", "Silence that ends the job.", s.heartbeat_timeout_s);
}

}  // namespace

std::string status_json(const RunStatus& s) {
  Json out = {{"run_dir", s.run_dir},
              {"job_id", s.job_id},
              {"world_size", s.world_size},
              {"state", s.state},
              {"stage", s.stage},
              {"stage_index", s.stage_index},
              {"stage_count", s.stage_count},
              {"step", s.step},
              {"total_steps", s.total_steps},
              {"loss", number_or_null(s.loss)},
              {"losses", losses_json(s)},
              {"lr", number_or_null(s.lr)},
              {"grad_norm", number_or_null(s.grad_norm)},
              {"tokens_per_s", number_or_null(s.tokens_per_s)},
              {"eta_s", number_or_null(s.eta_s)},
              {"skipped_steps", s.skipped_steps},
              {"last_checkpoint", checkpoint_json(s.last_checkpoint)},
              {"heartbeat_timeout_s", number_or_null(s.heartbeat_timeout_s)},
              {"ranks", ranks_json(s.ranks)},
              {"uptime_s", s.uptime_s}};
  // Invalid UTF-8 (a path's bytes) becomes U+FFFD instead of an exception.
  return out.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string status_prometheus(const RunStatus& status) {
  Exposition out;
  progress_families(status, out);
  checkpoint_family(status, out);
  heartbeat_families(status, out);
  return out.text();
}

std::string prometheus_label_value(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace vlm::monitor
