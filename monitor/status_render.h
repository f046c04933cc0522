// The status endpoint's two bodies: GET /status (JSON) and GET /metrics (Prometheus text
// exposition format 0.0.4), both from one RunStatus.
#pragma once

#include <string>

#include "monitor/run_status.h"

namespace vlm::monitor {

// One JSON object; unknown numbers are null, last_checkpoint is null before the first one.
std::string status_json(const RunStatus& status);

// vlm_step, vlm_loss{term="text_ce"}, vlm_heartbeat_age_seconds{rank="1",host="..."}, ...:
// every family with its HELP and TYPE lines; unknown numbers are left out.
std::string status_prometheus(const RunStatus& status);

// A label value with \, " and newline escaped, as the exposition format wants.
std::string prometheus_label_value(const std::string& text);

}  // namespace vlm::monitor
