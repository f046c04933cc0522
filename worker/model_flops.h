// The FLOPs a training step spends per sequence token, for the MFU the progress line and
// metrics report: a multiplying weight costs 2 FLOPs a token forward, 2 more in backward when
// the gradient must pass through its unit to reach a trainable unit before it (the input
// gradient), and 2 more when it trains itself (the weight gradient). So a frozen vision tower
// ahead of everything trainable counts 2, a frozen LLM under LoRA 4, a trained layer 6 (4 when
// nothing before it trains: no input gradient).
// Embedding tables are lookups (0), unless a unit reads one as its output matrix (tied heads).
// Attention's score products and the vision tower's own token count are left out: the estimate is
// the usual 6N where everything trains, and within a few percent of a count by hand for
// LLaVA's stage 2 at real width (3.91 against 3.85 GFLOP a token).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace vlm::worker {

struct ParameterFacts {
  int64_t numel = 0;
  bool trainable = false;
  bool lookup = false;  // an embedding table read by index
};

// Token and position embedding tables, by VisionLanguageModel's parameter names.
bool is_lookup_table(const std::string& name);

// units: forward order (VisionLanguageModel::sharding_units()); parameters: by full name.
double training_flops_per_token(const std::vector<models::ShardingUnit>& units,
                                const std::map<std::string, ParameterFacts>& parameters);

}  // namespace vlm::worker
