// What rank 0 knows about a run at one moment, as plain data: what the status endpoint renders
// (status_render.h) and what the status board (status_board.h) and the heartbeat monitor
// (heartbeat.h) fill in. A number not known yet is NaN (JSON null; left out of /metrics).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vlm::monitor {

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

// One rank as rank 0's heartbeat monitor sees it.
struct RankHeartbeat {
  int rank = 0;
  std::string host;
  int64_t step = 0;         // the step its last heartbeat carried
  double age_s = kUnknown;  // since its last heartbeat (or since monitoring began: none yet)
  bool seen = false;        // a heartbeat arrived
  bool finished = false;    // it said goodbye (its process ended normally)
  bool silent = false;      // silent past the timeout: the job is being ended
};

struct CheckpointRecord {
  std::string dir;
  std::string stage;
  int64_t step = 0;
};

struct RunStatus {
  std::string run_dir;
  std::string job_id;  // SLURM_JOB_ID, empty outside Slurm
  int world_size = 1;
  std::string state = "starting";  // starting | training | finished | preempted
  std::string stage;
  int64_t stage_index = 0;  // 0-based
  int64_t stage_count = 0;
  int64_t step = 0;  // steps done in the stage
  int64_t total_steps = 0;
  double loss = kUnknown;
  std::map<std::string, double> losses;  // named terms (text_ce, image_l2, ...)
  double lr = kUnknown;
  double grad_norm = kUnknown;
  double tokens_per_s = kUnknown;
  double eta_s = kUnknown;  // to the end of the current stage
  int64_t skipped_steps = 0;
  std::optional<CheckpointRecord> last_checkpoint;
  std::vector<RankHeartbeat> ranks;  // empty: heartbeats off
  double heartbeat_timeout_s = kUnknown;
  double uptime_s = 0.0;
};

}  // namespace vlm::monitor
