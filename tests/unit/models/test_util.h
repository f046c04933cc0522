// Shared helpers for the models tests: tiny configs and a finite-difference gradient check.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::models::testkit {

// A small but complete model: 16x16 images, patch 8 (4 patch tokens), 2-layer ViT, 2-layer LLM.
inline recipes::ModelSection small_model(bool qkv_bias = false, int64_t kv_heads = 0) {
  recipes::ModelSection config;
  config.llm.hidden_size = 32;
  config.llm.intermediate_size = 48;
  config.llm.num_layers = 2;
  config.llm.num_heads = 4;
  config.llm.num_kv_heads = kv_heads;
  config.llm.qkv_bias = qkv_bias;
  config.llm.vocab_size = 0;  // from the constructor argument
  config.vision.image_size = 16;
  config.vision.patch_size = 8;
  config.vision.hidden_size = 16;
  config.vision.intermediate_size = 32;
  config.vision.num_layers = 2;
  config.vision.num_heads = 2;
  return config;
}

inline std::vector<std::string> names_of(
    const std::vector<std::pair<std::string, at::Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& item : named) names.push_back(item.first);
  return names;
}

struct GradientReport {
  double worst_relative_error = 0.0;
  std::string worst_entry;
  int64_t checked = 0;
};

// Compares autograd's gradient of loss() with central finite differences at `per_tensor` random
// entries of each tensor (double precision leaves that require grad). Fails the test when
// |analytic - numeric| > tolerance * max(|analytic|, |numeric|, floor).
inline GradientReport expect_gradients_match(
    const std::function<at::Tensor()>& loss,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors, int64_t per_tensor,
    uint64_t seed, double tolerance = 1e-6, double step = 1e-5, double floor = 1e-2) {
  for (const auto& [name, t] : tensors) {
    if (t.grad().defined()) t.mutable_grad().zero_();
    EXPECT_EQ(t.scalar_type(), at::kDouble) << name;
    EXPECT_TRUE(t.requires_grad()) << name;
  }
  loss().backward();
  at::Generator gen = at::detail::createCPUGenerator(seed);
  GradientReport report;
  for (const auto& [name, t] : tensors) {
    EXPECT_TRUE(t.grad().defined()) << name << " got no gradient";
    if (!t.grad().defined()) continue;
    const at::Tensor analytic = t.grad().reshape({-1});
    const at::Tensor flat = t.detach().view({-1});
    for (int64_t k = 0; k < per_tensor; ++k) {
      const int64_t i = at::randint(flat.numel(), {1}, gen).item<int64_t>();
      const double original = flat[i].item<double>();
      double plus, minus;
      {
        c10::NoGradGuard no_grad;
        flat[i].fill_(original + step);
        plus = loss().item<double>();
        flat[i].fill_(original - step);
        minus = loss().item<double>();
        flat[i].fill_(original);
      }
      const double numeric = (plus - minus) / (2 * step);
      const double exact = analytic[i].item<double>();
      const double scale = std::max({std::abs(exact), std::abs(numeric), floor});
      const double error = std::abs(exact - numeric) / scale;
      ++report.checked;
      if (error > report.worst_relative_error) {
        report.worst_relative_error = error;
        report.worst_entry = name + "[" + std::to_string(i) + "]";
      }
      EXPECT_LE(error, tolerance) << name << "[" << i << "]: autograd " << exact
                                  << ", finite difference " << numeric;
    }
  }
  return report;
}

// Weighted sum of an output with fixed random weights: every output entry matters to the loss.
inline at::Tensor probe(const at::Tensor& output, const at::Tensor& weights) {
  return (output * weights).sum();
}

}  // namespace vlm::models::testkit
