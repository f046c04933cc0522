#include "worker/model_flops.h"

#include <set>

namespace vlm::worker {
namespace {

bool any_trainable(const models::ShardingUnit& unit,
                   const std::map<std::string, ParameterFacts>& parameters) {
  for (const std::string& name : unit.param_names) {
    const auto it = parameters.find(name);
    if (it != parameters.end() && it->second.trainable) return true;
  }
  return false;
}

}  // namespace

bool is_lookup_table(const std::string& name) {
  for (const char* table : {"embed_tokens", "position_embedding", "class_embedding", "pos_embed"}) {
    if (name.find(table) != std::string::npos) return true;
  }
  return false;
}

double training_flops_per_token(const std::vector<models::ShardingUnit>& units,
                                const std::map<std::string, ParameterFacts>& parameters) {
  // A lookup table that a later unit reads (a tied head) multiplies there.
  std::set<std::string> read_elsewhere;
  std::map<std::string, const models::ShardingUnit*> by_name;
  for (const auto& unit : units) by_name[unit.name] = &unit;
  for (const auto& unit : units) {
    for (const std::string& read : unit.reads) {
      const auto it = by_name.find(read);
      if (it == by_name.end()) continue;
      read_elsewhere.insert(it->second->param_names.begin(), it->second->param_names.end());
    }
  }
  double flops = 0.0;
  bool gradient_flows = false;  // some unit before this one trains
  for (const auto& unit : units) {
    for (const std::string& name : unit.param_names) {
      const auto it = parameters.find(name);
      if (it == parameters.end()) continue;
      const ParameterFacts& p = it->second;
      if (p.lookup && read_elsewhere.count(name) == 0) continue;
      const double per_token = 2.0 + (gradient_flows ? 2.0 : 0.0) + (p.trainable ? 2.0 : 0.0);
      flops += per_token * static_cast<double>(p.numel);
    }
    gradient_flows = gradient_flows || any_trainable(unit, parameters);
  }
  return flops;
}

}  // namespace vlm::worker
