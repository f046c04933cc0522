#include "models/hf_folder.h"

#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"
#include "models/json_file.h"

namespace vlm::models {
namespace {

constexpr size_t kListedNames = 20;  // per kind of mismatch in a message

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

void list_names(std::ostringstream& out, const char* title, const std::vector<std::string>& names) {
  if (names.empty()) return;
  out << "\n  " << title << " (" << names.size() << "):";
  for (size_t i = 0; i < names.size() && i < kListedNames; ++i) out << "\n    " << names[i];
  if (names.size() > kListedNames)
    out << "\n    ... and " << names.size() - kListedNames << " more";
}

}  // namespace

HfWeights::HfWeights(const std::string& folder) : source_(folder) {
  const std::string single = files::join(folder, "model.safetensors");
  const std::string index_path = files::join(folder, "model.safetensors.index.json");
  if (files::exists(single)) {
    *this = from_file(single);
    source_ = folder;
    return;
  }
  VLM_CHECK(files::exists(index_path), IoError, folder,
            " has neither model.safetensors nor model.safetensors.index.json");
  const nlohmann::json index = read_json_file(index_path);
  VLM_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            FormatError, index_path, ": no \"weight_map\" object");
  std::map<std::string, size_t> shard_index;
  std::map<std::string, std::string> listed;  // tensor -> shard file
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    VLM_CHECK(shard.is_string() && files::is_plain_file_name(shard.get<std::string>()), FormatError,
              index_path, ": tensor ", quoted_excerpt(tensor), " maps to ",
              quoted_excerpt(shard.dump()), ", not a file name in the folder");
    listed[tensor] = shard.get<std::string>();
  }
  for (const auto& [tensor, shard] : listed) {
    auto found = shard_index.find(shard);
    if (found == shard_index.end()) {
      add_shard(files::join(folder, shard));
      found = shard_index.emplace(shard, shards_.size() - 1).first;
    }
    VLM_CHECK(shards_[found->second].find(tensor) != nullptr, FormatError, index_path, ": tensor '",
              tensor, "' is listed in ", shard, " but that shard does not hold it");
    shard_of_[tensor] = found->second;
  }
}

HfWeights HfWeights::from_file(const std::string& path) {
  HfWeights weights;
  weights.source_ = path;
  weights.add_shard(path);
  for (const auto& entry : weights.shards_.back().entries()) weights.shard_of_[entry.name] = 0;
  return weights;
}

void HfWeights::add_shard(const std::string& path) { shards_.emplace_back(path); }

std::vector<const SafetensorsEntry*> HfWeights::entries() const {
  std::vector<const SafetensorsEntry*> out;
  for (const auto& [name, shard] : shard_of_) out.push_back(shards_[shard].find(name));
  return out;
}

const SafetensorsEntry* HfWeights::find(const std::string& name) const {
  const auto it = shard_of_.find(name);
  return it == shard_of_.end() ? nullptr : shards_[it->second].find(name);
}

void HfWeights::read_into(const std::string& name, const at::Tensor& dst) const {
  const auto it = shard_of_.find(name);
  VLM_CHECK(it != shard_of_.end(), ShapeError, source_, " has no tensor '", name, "'");
  shards_[it->second].read_into(name, dst);
}

void load_weights(const HfWeights& weights, const NamedTensors& targets,
                  const std::function<bool(const std::string&)>& ignorable) {
  std::vector<std::string> missing, unexpected, misshapen;
  std::map<std::string, bool> expected;
  for (const auto& [name, target] : targets) {
    expected[name] = true;
    const SafetensorsEntry* entry = weights.find(name);
    if (entry == nullptr) {
      missing.push_back(name);
    } else if (target.sizes() != at::IntArrayRef(entry->shape)) {
      misshapen.push_back(name + ": file " + shape_text(entry->shape) + ", model " +
                          shape_text(target.sizes()));
    }
  }
  for (const SafetensorsEntry* entry : weights.entries()) {
    if (expected.count(entry->name) == 0 && !ignorable(entry->name)) {
      unexpected.push_back(entry->name);
    }
  }
  if (!missing.empty() || !unexpected.empty() || !misshapen.empty()) {
    std::ostringstream message;
    message << weights.source() << " does not fit the model:";
    list_names(message, "missing", missing);
    list_names(message, "unexpected", unexpected);
    list_names(message, "misshapen", misshapen);
    VLM_THROW(ShapeError, message.str());
  }
  // A model on the meta device has shapes only: the check above is all a load can do for it.
  for (const auto& [name, target] : targets) {
    if (!target.is_meta()) weights.read_into(name, target);
  }
}

}  // namespace vlm::models
