// The hand-written CPU kernels of RMSNorm, SwiGLU and RoPE against their textbook formulas written
// with plain ATen ops, in double: outputs and the gradients of every input, including rotary angles
// gathered per row (position ids) and a frozen norm weight.
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "models/init.h"
#include "models/layers.h"
#include "models/rope.h"

namespace vlm::models {
namespace {

at::Tensor random_leaf(at::IntArrayRef shape, at::Generator& gen) {
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble)).requires_grad_(true);
}

double max_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(CpuKernels, RmsNormMatchesTheFormulaAndItsGradients) {
  at::Generator gen = init::generator(5, "rms");
  RmsNorm norm(24, 1e-5);
  norm->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    norm->weight.copy_(at::randn({24}, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  const at::Tensor x = random_leaf({3, 5, 24}, gen);
  const at::Tensor upstream = at::randn({3, 5, 24}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor fused = norm(x);
  const at::Tensor formula = norm->weight * x * at::rsqrt(x.square().mean(-1, true) + 1e-5);
  EXPECT_LT(max_difference(fused, formula), 1e-13);
  const auto fused_grads = torch::autograd::grad({fused}, {x, norm->weight}, {upstream});
  const auto formula_grads = torch::autograd::grad({formula}, {x, norm->weight}, {upstream});
  EXPECT_LT(max_difference(fused_grads[0], formula_grads[0]), 1e-12);
  EXPECT_LT(max_difference(fused_grads[1], formula_grads[1]), 1e-12);

  norm->weight.requires_grad_(false);  // frozen: only the input's gradient
  const at::Tensor frozen = norm(x);
  const auto input_grad = torch::autograd::grad({frozen}, {x}, {upstream});
  EXPECT_LT(max_difference(input_grad[0], formula_grads[0]), 1e-12);
}

TEST(CpuKernels, SwiGluMatchesSiluTimesUpAndItsGradients) {
  at::Generator gen = init::generator(7, "swiglu");
  const at::Tensor gate = random_leaf({4, 3, 10}, gen), up = random_leaf({4, 3, 10}, gen);
  const at::Tensor upstream = at::randn({4, 3, 10}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor fused = swiglu(gate, up);
  const at::Tensor formula = gate / (1 + at::exp(-gate)) * up;
  EXPECT_LT(max_difference(fused, formula), 1e-13);
  const auto fused_grads = torch::autograd::grad({fused}, {gate, up}, {upstream});
  const auto formula_grads = torch::autograd::grad({formula}, {gate, up}, {upstream});
  EXPECT_LT(max_difference(fused_grads[0], formula_grads[0]), 1e-12);
  EXPECT_LT(max_difference(fused_grads[1], formula_grads[1]), 1e-12);
}

at::Tensor rotate_half_formula(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(-2) + rotated * sin.unsqueeze(-2);
}

class RotaryKernel : public ::testing::TestWithParam<bool> {};

TEST_P(RotaryKernel, MatchesRotateHalfAndItsGradient) {
  const bool position_ids = GetParam();
  const int64_t batch = 2, seq = 6, heads = 3, dim = 8;
  at::Generator gen = init::generator(9, "rope");
  RotaryTable table(dim, 10000.0, 16);
  const at::Tensor ids =
      position_ids ? at::tensor({0, 3, 4, 5, 9, 2, 1, 1, 2, 7, 8, 15}, at::kLong).view({2, 6})
                   : at::Tensor();
  const RotaryAngles angles = table.lookup(seq, ids, at::kDouble);
  // The reference recomputes cos and sin from the frequencies, not from the table.
  const at::Tensor positions = position_ids ? ids.to(at::kDouble) : at::arange(seq, at::kDouble);
  const at::Tensor inv_freq =
      at::pow(10000.0, -at::arange(0, dim, 2, at::kDouble) / static_cast<double>(dim));
  const at::Tensor theta = positions.unsqueeze(-1) * inv_freq;
  const at::Tensor cos = at::cat({theta.cos(), theta.cos()}, -1);
  const at::Tensor sin = at::cat({theta.sin(), theta.sin()}, -1);

  const at::Tensor x = random_leaf({batch, seq, heads, dim}, gen);
  const at::Tensor upstream =
      at::randn({batch, seq, heads, dim}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor fused = apply_rotary(x, angles);
  const at::Tensor formula = rotate_half_formula(x, cos, sin);
  EXPECT_LT(max_difference(fused, formula), 1e-12);
  const auto fused_grad = torch::autograd::grad({fused}, {x}, {upstream});
  const auto formula_grad = torch::autograd::grad({formula}, {x}, {upstream});
  EXPECT_LT(max_difference(fused_grad[0], formula_grad[0]), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Angles, RotaryKernel, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? std::string("GatheredByPositionIds")
                                             : std::string("Consecutive");
                         });

// bf16 takes the same kernels, computing in float and rounding once per stored element: each
// output and gradient within a few bf16 roundings of the double formula on the same bf16 values.
double relative_to(const at::Tensor& ours, const at::Tensor& formula) {
  EXPECT_EQ(ours.scalar_type(), at::kBFloat16);
  return ((ours.to(at::kDouble) - formula).abs().max() / formula.abs().max()).item<double>();
}

at::Tensor bf16_leaf(at::IntArrayRef shape, at::Generator& gen) {
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble))
      .to(at::kBFloat16)
      .requires_grad_(true);
}

at::Tensor in_double(const at::Tensor& x) {
  return x.detach().to(at::kDouble).requires_grad_(true);
}

TEST(CpuKernels, Bf16RowsRoundTheDoubleFormulas) {
  constexpr double kBf16 = 1.0 / 128;  // two roundings of bf16's 8-bit significand
  at::Generator gen = init::generator(11, "bf16 rows");
  const at::Tensor x = bf16_leaf({3, 5, 64}, gen), weight = bf16_leaf({64}, gen);
  const at::Tensor upstream = bf16_leaf({3, 5, 64}, gen).detach();
  const at::Tensor xd = in_double(x), wd = in_double(weight), gd = upstream.to(at::kDouble);

  RmsNorm norm(64, 1e-5);
  norm->to(at::kBFloat16);
  norm->weight = weight;
  const at::Tensor normed = norm(x);
  const at::Tensor normed_formula = wd * xd * at::rsqrt(xd.square().mean(-1, true) + 1e-5);
  EXPECT_LT(relative_to(normed, normed_formula), kBf16);
  auto ours = torch::autograd::grad({normed}, {x, weight}, {upstream});
  auto want = torch::autograd::grad({normed_formula}, {xd, wd}, {gd});
  EXPECT_LT(relative_to(ours[0], want[0]), kBf16);
  EXPECT_LT(relative_to(ours[1], want[1]), kBf16);

  const at::Tensor up = bf16_leaf({3, 5, 64}, gen), upd = in_double(up);
  const at::Tensor product = swiglu(x, up);
  const at::Tensor product_formula = xd / (1 + at::exp(-xd)) * upd;
  EXPECT_LT(relative_to(product, product_formula), kBf16);
  ours = torch::autograd::grad({product}, {x, up}, {upstream});
  want = torch::autograd::grad({product_formula}, {xd, upd}, {gd});
  EXPECT_LT(relative_to(ours[0], want[0]), kBf16);
  EXPECT_LT(relative_to(ours[1], want[1]), kBf16);

  RotaryTable table(16, 10000.0, 8);
  const at::Tensor heads = bf16_leaf({2, 5, 3, 16}, gen), headsd = in_double(heads);
  const at::Tensor heads_upstream = bf16_leaf({2, 5, 3, 16}, gen).detach();
  const RotaryAngles angles = table.lookup(5, at::Tensor(), at::kBFloat16);
  const at::Tensor rotated = apply_rotary(heads, angles);
  const at::Tensor rotated_formula = rotate_half_formula(
      headsd, angles.cos.to(at::kDouble),
      at::cat({angles.signed_sin.narrow(-1, 8, 8), angles.signed_sin.narrow(-1, 8, 8)}, -1)
          .to(at::kDouble));
  EXPECT_LT(relative_to(rotated, rotated_formula), kBf16);
  ours = torch::autograd::grad({rotated}, {heads}, {heads_upstream});
  want = torch::autograd::grad({rotated_formula}, {headsd}, {heads_upstream.to(at::kDouble)});
  EXPECT_LT(relative_to(ours[0], want[0]), kBf16);
}

}  // namespace
}  // namespace vlm::models
