// VDEP's image term and its ablations (vdep.loss l2, inv_l2, sigmoid_l2) against plain torch:
// per image token of a VDEP-mode row, d = ||X_I[j + shift] - X_I^h[j]||^2 summed over the hidden
// dimension; the term sums d, 1 / d or sigmoid(d) over those tokens, and the trainer divides by
// vdep_image_pairs (the mean over image tokens). LLaVA-mode rows' images add nothing.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "worker/objective.h"

namespace vlm::worker {
namespace {

constexpr int64_t kRows = 3;
constexpr int64_t kSeq = 9;
constexpr int64_t kWidth = 5;
constexpr int64_t kImageTokens = 4;

// Row 0 and row 2 are VDEP-mode, row 1 LLaVA-mode; one image each, at different positions.
TensorBatch batch() {
  TensorBatch out;
  out.image_spans = {{0, 2, kImageTokens}, {1, 1, kImageTokens}, {2, 4, kImageTokens}};
  out.vdep_rows = {1, 0, 1};
  return out;
}

// The formula written out with slices, one image at a time.
at::Tensor expected_sum(const at::Tensor& hidden, const at::Tensor& embeds, const TensorBatch& b,
                        const recipes::VdepConfig& config) {
  at::Tensor total = at::zeros({}, hidden.options());
  for (size_t image = 0; image < b.image_spans.size(); ++image) {
    const data::ImageSpan& span = b.image_spans[image];
    if (b.vdep_rows[static_cast<size_t>(span.sample)] == 0) continue;
    const int64_t pairs = span.length - config.shift;
    const at::Tensor h = hidden[span.sample].slice(0, span.start, span.start + pairs);
    at::Tensor x = embeds[static_cast<int64_t>(image)].slice(0, config.shift, span.length);
    if (config.detach_target) x = x.detach();
    const at::Tensor d = (x - h).pow(2).sum(-1);
    if (config.loss == recipes::VdepLoss::kL2) total = total + d.sum();
    if (config.loss == recipes::VdepLoss::kInvL2) total = total + (1.0 / d).sum();
    if (config.loss == recipes::VdepLoss::kSigmoidL2) {
      total = total + (1.0 / (1.0 + at::exp(-d))).sum();
    }
  }
  return total;
}

TEST(VdepLoss, EachLossMatchesItsFormulaAndGradients) {
  at::manual_seed(7);
  const at::Tensor hidden0 = at::randn({kRows, kSeq, kWidth}, at::kDouble);
  const at::Tensor embeds0 = at::randn({kRows, kImageTokens, kWidth}, at::kDouble);
  for (const recipes::VdepLoss loss :
       {recipes::VdepLoss::kL2, recipes::VdepLoss::kInvL2, recipes::VdepLoss::kSigmoidL2}) {
    for (const int64_t shift : {0, 1}) {
      for (const bool detach : {true, false}) {
        recipes::VdepConfig config;
        config.loss = loss;
        config.shift = shift;
        config.detach_target = detach;
        const std::string what = name_of(loss) + " shift " + std::to_string(shift) +
                                 (detach ? " detached" : " not detached");
        const TensorBatch b = batch();
        EXPECT_EQ(vdep_image_pairs(b, config), 2 * (kImageTokens - shift)) << what;

        const at::Tensor h1 = hidden0.clone().requires_grad_(true);
        const at::Tensor e1 = embeds0.clone().requires_grad_(true);
        const at::Tensor got = vdep_image_sum(h1, e1, b, config);
        got.backward();
        const at::Tensor h2 = hidden0.clone().requires_grad_(true);
        const at::Tensor e2 = embeds0.clone().requires_grad_(true);
        const at::Tensor want = expected_sum(h2, e2, b, config);
        want.backward();

        EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-12 * std::abs(want.item<double>()))
            << what;
        EXPECT_TRUE(at::allclose(h1.grad(), h2.grad(), 1e-10, 1e-12)) << what;
        // The LLaVA-mode row's hidden states get no gradient from the image term.
        EXPECT_EQ(h1.grad()[1].abs().sum().item<double>(), 0.0) << what;
        if (detach) {
          EXPECT_TRUE(!e1.grad().defined() || e1.grad().abs().sum().item<double>() == 0.0) << what;
        } else {
          EXPECT_TRUE(at::allclose(e1.grad(), e2.grad(), 1e-10, 1e-12)) << what;
          EXPECT_EQ(e1.grad()[1].abs().sum().item<double>(), 0.0) << what;  // LLaVA row's image
        }
      }
    }
  }
}

// Closed form: hidden zeros against embeddings of ones gives d = width at every pair.
TEST(VdepLoss, ClosedFormValues) {
  const at::Tensor hidden = at::zeros({kRows, kSeq, kWidth}, at::kDouble);
  const at::Tensor embeds = at::ones({kRows, kImageTokens, kWidth}, at::kDouble);
  const double d = kWidth;
  const double pairs = 2 * (kImageTokens - 1);
  const std::vector<std::pair<recipes::VdepLoss, double>> cases = {
      {recipes::VdepLoss::kL2, pairs * d},
      {recipes::VdepLoss::kInvL2, pairs / d},
      {recipes::VdepLoss::kSigmoidL2, pairs / (1.0 + std::exp(-d))}};
  for (const auto& [loss, value] : cases) {
    recipes::VdepConfig config;
    config.loss = loss;
    EXPECT_NEAR(vdep_image_sum(hidden, embeds, batch(), config).item<double>(), value, 1e-12)
        << name_of(loss);
  }
}

// A micro batch without VDEP-mode rows has no image term and no pairs, its sum still part of
// the graph (zero).
TEST(VdepLoss, NoVdepRowsNoTerm) {
  TensorBatch b = batch();
  b.vdep_rows = {0, 0, 0};
  recipes::VdepConfig config;
  EXPECT_EQ(vdep_image_pairs(b, config), 0);
  const at::Tensor hidden = at::randn({kRows, kSeq, kWidth}, at::kDouble).requires_grad_(true);
  const at::Tensor embeds = at::randn({kRows, kImageTokens, kWidth}, at::kDouble);
  const at::Tensor sum = vdep_image_sum(hidden, embeds, b, config);
  EXPECT_EQ(sum.item<double>(), 0.0);
  EXPECT_TRUE(sum.requires_grad());
}

}  // namespace
}  // namespace vlm::worker
