// HF model folders: config.json plus model.safetensors, or several shards listed in
// model.safetensors.index.json ({"weight_map": {tensor name: shard file}}).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/safetensors.h"

namespace vlm::models {

class HfWeights {
 public:
  // Opens folder's model.safetensors, else its index and every shard it names (headers only).
  explicit HfWeights(const std::string& folder);
  // A single safetensors file.
  static HfWeights from_file(const std::string& path);

  const std::string& source() const { return source_; }
  std::vector<const SafetensorsEntry*> entries() const;  // sorted by name
  const SafetensorsEntry* find(const std::string& name) const;
  void read_into(const std::string& name, const at::Tensor& dst) const;

 private:
  HfWeights() = default;
  void add_shard(const std::string& path);

  std::string source_;
  std::vector<SafetensorsReader> shards_;
  std::map<std::string, size_t> shard_of_;
};

// Copies weights into targets (name in the file -> live tensor) after checking that the names
// and shapes agree exactly; names for which ignorable() is true may be in the file without a
// target. Throws ShapeError listing every missing, unexpected and misshapen name (with both
// shapes). Values are converted to each target's dtype. Meta-device targets are only checked.
void load_weights(const HfWeights& weights, const NamedTensors& targets,
                  const std::function<bool(const std::string&)>& ignorable);

}  // namespace vlm::models
