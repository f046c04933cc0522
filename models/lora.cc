#include "models/lora.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>

#include "common/error.h"
#include "common/mix64.h"
#include "models/init.h"

namespace vlm::models {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", new_parameter({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", zero_parameter({out_features}));
}

// LoRA's dropout, as torch's (each element kept with probability 1 - p, kept ones scaled by
// 1 / (1 - p)), but with one draw from the default generator per call instead of one per element:
// at::dropout's per-element mt19937 draws were 15% of a tiny LoRA step (2026-12-03: 392 ms per
// step against 335 ms without dropout). The draw seeds a splitmix64 stream, each 64-bit word
// giving four elements a 16-bit uniform (p resolved to 1/65536). The generator advances by one
// draw per call, so its saved state still fixes the masks on resume and in recomputation.
at::Tensor lora_dropout(const at::Tensor& x, double p) {
  uint64_t seed = 0;
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    seed = generator.get<at::CPUGeneratorImpl>()->random64();
  }
  // Made on the host and moved: the loop below writes it through a host pointer.
  at::Tensor mask = at::empty(x.sizes(), at::TensorOptions().dtype(at::kFloat));
  float* out = mask.data_ptr<float>();
  const int64_t count = mask.numel();
  const auto dropped_below = static_cast<uint32_t>(std::lround(p * 65536.0));
  const auto kept = static_cast<float>(1.0 / (1.0 - p));
  for (int64_t word = 0; word * 4 < count; ++word) {
    const uint64_t bits = mix64(seed + static_cast<uint64_t>(word));
    for (int64_t k = 0; k < 4 && word * 4 + k < count; ++k) {
      const auto uniform = static_cast<uint32_t>((bits >> (16 * k)) & 0xffffU);
      out[word * 4 + k] = uniform >= dropped_below ? kept : 0.0F;
    }
  }
  return x * mask.to(x.device(), x.scalar_type());
}

at::Tensor LinearImpl::forward(const at::Tensor& x) const {
  at::Tensor y = at::linear(x, weight, bias);
  if (!has_lora()) return y;
  const bool drop = lora_dropout_ > 0.0 && is_training();
  const at::Tensor input = drop ? lora_dropout(x, lora_dropout_) : x;
  return y + at::linear(at::linear(input, lora_a_), lora_b_) * lora_scale_;
}

void LinearImpl::init_normal(double std, at::Generator& gen) {
  init::normal(weight, std, gen);
  if (bias.defined()) init::zeros(bias);
}

void LinearImpl::init_torch_default(at::Generator& gen) {
  init::kaiming_uniform(weight, gen);
  if (bias.defined()) init::linear_bias(bias, weight.size(1), gen);
}

void LinearImpl::add_lora(int64_t rank, double alpha, double dropout, at::Generator& gen) {
  VLM_CHECK(!has_lora(), ConfigError, "LoRA is already applied to this layer");
  VLM_CHECK(rank > 0, ConfigError, "lora.rank must be positive, got ", rank);
  const auto options = weight.options().requires_grad(false);
  auto a = std::make_shared<WeightImpl>(at::empty({rank, weight.size(1)}, options));
  auto b = std::make_shared<WeightImpl>(at::zeros({weight.size(0), rank}, options));
  init::kaiming_uniform(a->weight, gen);
  lora_a_ = register_module("lora_A", a)->weight;
  lora_b_ = register_module("lora_B", b)->weight;
  lora_scale_ = alpha / static_cast<double>(rank);
  lora_dropout_ = dropout;
}

at::Tensor LinearImpl::merged_weight() const {
  c10::NoGradGuard no_grad;
  if (!has_lora()) return weight.detach().clone();
  return at::addmm(weight.detach(), lora_b_.detach(), lora_a_.detach(), /*beta=*/1.0,
                   /*alpha=*/lora_scale_);
}

void LinearImpl::zero_lora_b() {
  if (has_lora()) init::zeros(lora_b_);
}

void LinearImpl::merge_lora() {
  if (!has_lora()) return;
  {
    c10::NoGradGuard no_grad;
    weight.addmm_(lora_b_, lora_a_, /*beta=*/1.0, /*alpha=*/lora_scale_);
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_a_ = at::Tensor();
  lora_b_ = at::Tensor();
  lora_scale_ = 0.0;
  lora_dropout_ = 0.0;
}

namespace {

bool ends_with_component(const std::string& name, const std::string& target) {
  if (name.size() < target.size()) return false;
  if (name.compare(name.size() - target.size(), target.size(), target) != 0) return false;
  return name.size() == target.size() || name[name.size() - target.size() - 1] == '.';
}

// The block index of "model.layers.<i>.<...>", or -1 for a module outside the blocks.
int64_t block_of(const std::string& module_name) {
  const std::string prefix = "model.layers.";
  if (module_name.rfind(prefix, 0) != 0) return -1;
  return std::stoll(module_name.substr(prefix.size()));
}

bool block_selected(int64_t block, const std::vector<int64_t>& wanted,
                    const std::vector<int64_t>& excluded) {
  const auto has = [](const std::vector<int64_t>& list, int64_t value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  if (has(excluded, block)) return false;
  return wanted.empty() || has(wanted, block);
}

}  // namespace

std::vector<std::string> add_lora(torch::nn::Module& root, const recipes::LoraConfig& config,
                                  uint64_t seed, const std::vector<int64_t>& excluded_layers) {
  VLM_CHECK(config.rank > 0, ConfigError, "lora.rank must be positive to add LoRA, got ",
            config.rank);
  VLM_CHECK(config.dropout >= 0.0 && config.dropout < 1.0, ConfigError,
            "lora.dropout must be in [0, 1), got ", config.dropout);
  VLM_CHECK(!config.targets.empty(), ConfigError, "lora.targets is empty");
  at::Generator gen = init::generator(seed, "lora");
  std::vector<std::string> adapted;
  std::set<std::string> matched_targets;
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    auto* linear = item.value()->as<LinearImpl>();
    if (linear == nullptr) continue;
    if (!block_selected(block_of(item.key()), config.layers, excluded_layers)) continue;
    for (const auto& target : config.targets) {
      if (!ends_with_component(item.key(), target)) continue;
      matched_targets.insert(target);
      VLM_CHECK(!linear->has_lora(), ConfigError, "LoRA is already applied to ", item.key());
      linear->add_lora(config.rank, config.alpha, config.dropout, gen);
      adapted.push_back(item.key());
      break;
    }
  }
  for (const auto& target : config.targets) {
    VLM_CHECK(matched_targets.count(target) > 0, ConfigError, "lora.targets: '", target,
              "' matches no Linear layer of the LLM's selected blocks (lora.layers)");
  }
  return adapted;
}

int64_t merge_lora(torch::nn::Module& root) {
  // Collect first: merging unregisters each adapter's factor modules, which a walk over the
  // tree would then visit after they are gone.
  std::vector<LinearImpl*> adapted;
  if (auto* linear = dynamic_cast<LinearImpl*>(&root); linear != nullptr && linear->has_lora()) {
    adapted.push_back(linear);
  }
  for (const auto& child : root.modules(/*include_self=*/false)) {
    auto* linear = dynamic_cast<LinearImpl*>(child.get());
    if (linear != nullptr && linear->has_lora()) adapted.push_back(linear);
  }
  for (LinearImpl* linear : adapted) linear->merge_lora();
  return static_cast<int64_t>(adapted.size());
}

bool is_lora_parameter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

}  // namespace vlm::models
