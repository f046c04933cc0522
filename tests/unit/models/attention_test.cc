// attention() against the textbook formula written with plain ATen ops, in double: the output
// and the gradients of q, k and v, for grouped heads, a per-row mask, a shared mask and views
// whose heads are not contiguous (AIMv2 splits one qkv projection by select).
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "models/attention.h"
#include "models/attention_mask.h"
#include "models/init.h"

namespace vlm::models {
namespace {

// softmax(q k^T / sqrt(D) + mask) v with each query head reading key/value head h / group.
at::Tensor textbook(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& mask) {
  const int64_t group = q.size(2) / k.size(2);
  const at::Tensor kk = k.repeat_interleave(group, 2).permute({0, 2, 1, 3});  // [B, H, S, D]
  const at::Tensor vv = v.repeat_interleave(group, 2).permute({0, 2, 1, 3});
  at::Tensor scores = at::matmul(q.permute({0, 2, 1, 3}), kk.transpose(2, 3)) /
                      std::sqrt(static_cast<double>(q.size(3)));
  if (mask.defined()) scores = scores + mask;
  return at::matmul(scores.softmax(-1), vv)
      .permute({0, 2, 1, 3})
      .reshape({q.size(0), q.size(1), -1});
}

struct Case {
  int64_t heads, kv_heads;
  bool per_row_mask, split_from_qkv;
};

class AttentionMatchesTextbook : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionMatchesTextbook, OutputAndGradients) {
  const Case c = GetParam();
  const int64_t batch = 2, seq = 7, dim = 4;
  at::Generator gen = init::generator(3, "attention");
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q, k, v;
  if (c.split_from_qkv) {
    const at::Tensor qkv = at::randn({batch, seq, 3, c.heads, dim}, gen, opts).requires_grad_();
    q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  } else {
    q = at::randn({batch, seq, c.heads, dim}, gen, opts).requires_grad_();
    k = at::randn({batch, seq, c.kv_heads, dim}, gen, opts).requires_grad_();
    v = at::randn({batch, seq, c.kv_heads, dim}, gen, opts).requires_grad_();
  }
  const at::Tensor mask = c.per_row_mask
                              ? build_attention_mask(batch, seq, {7, 5}, {{0, 1, 3}}, at::kDouble)
                              : build_attention_mask(1, seq, {7}, {}, at::kDouble);
  const at::Tensor weights = at::randn({batch, seq, c.heads * dim}, gen, opts);

  const at::Tensor ours = attention(q, k, v, mask);
  const at::Tensor want = textbook(q, k, v, mask);
  EXPECT_TRUE(at::allclose(ours, want, 1e-12, 1e-12)) << (ours - want).abs().max();
  const auto inputs = std::vector<at::Tensor>{q, k, v};
  const auto ours_grads = torch::autograd::grad({(ours * weights).sum()}, inputs);
  const auto want_grads = torch::autograd::grad({(want * weights).sum()}, inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(at::allclose(ours_grads[i], want_grads[i], 1e-12, 1e-12))
        << "gradient " << i << ": " << (ours_grads[i] - want_grads[i]).abs().max();
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionMatchesTextbook,
                         ::testing::Values(Case{4, 4, true, false}, Case{4, 2, true, false},
                                           Case{6, 1, false, false}, Case{3, 3, false, true}));

// fp32 takes the same path as fp64 and stays within float rounding of it.
TEST(Attention, FloatAgreesWithDouble) {
  at::Generator gen = init::generator(4, "attention");
  const at::Tensor q = at::randn({3, 9, 4, 8}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor k = at::randn({3, 9, 2, 8}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor v = at::randn({3, 9, 2, 8}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor mask = build_attention_mask(3, 9, {9, 4, 7}, {}, at::kDouble);
  const at::Tensor in_double = attention(q, k, v, mask);
  const at::Tensor in_float =
      attention(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat), mask.to(at::kFloat));
  EXPECT_TRUE(at::allclose(in_float.to(at::kDouble), in_double, 1e-5, 1e-5));
}

// bf16 takes its own node (ATen's batched bf16 products, the softmax in bf16): the output and
// every gradient within bf16 rounding of the fp64 textbook on the same rounded inputs, with
// grouped heads, a per-row mask and keys that are a view; and with one batch row and one head per
// group, where the node's stacks are views of its inputs, which it must leave as they were.
struct Bf16Case {
  int64_t batch, heads, kv_heads;
};

class Bf16Attention : public ::testing::TestWithParam<Bf16Case> {};

TEST_P(Bf16Attention, AgreesWithTheDoubleTextbook) {
  const Bf16Case c = GetParam();
  at::Generator gen = init::generator(6, "attention");
  const auto in_bf16 = [&](at::IntArrayRef shape) {
    return at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble)).to(at::kBFloat16);
  };
  const at::Tensor q = in_bf16({c.batch, 9, c.heads, 16}),
                   v = in_bf16({c.batch, 9, c.kv_heads, 16});
  const at::Tensor k = in_bf16({c.batch, c.kv_heads, 9, 16}).transpose(1, 2);  // not contiguous
  const at::Tensor mask = c.batch == 2
                              ? build_attention_mask(2, 9, {9, 6}, {{1, 2, 3}}, at::kDouble)
                              : build_attention_mask(1, 9, {9}, {}, at::kDouble);
  const at::Tensor weights = in_bf16({c.batch, 9, c.heads * 16});
  const std::vector<at::Tensor> ours_in = {q.requires_grad_(), k.detach().requires_grad_(),
                                           v.requires_grad_()};
  std::vector<at::Tensor> want_in;
  for (const auto& x : ours_in) want_in.push_back(x.detach().to(at::kDouble).requires_grad_());

  const at::Tensor ours = attention(ours_in[0] * 1, ours_in[1] * 1, ours_in[2] * 1, mask);
  const at::Tensor want = textbook(want_in[0], want_in[1], want_in[2], mask);
  EXPECT_EQ(ours.scalar_type(), at::kBFloat16);
  for (size_t i = 0; i < ours_in.size(); ++i) {
    EXPECT_TRUE(at::equal(ours_in[i].to(at::kDouble), want_in[i])) << "input " << i << " changed";
  }
  const auto close = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a.to(at::kDouble) - b).abs().max() / b.abs().max()).item<double>();
  };
  EXPECT_LT(close(ours, want), 2e-2);
  const auto ours_grads = torch::autograd::grad({(ours * weights).sum()}, ours_in);
  const auto want_grads = torch::autograd::grad({(want * weights.to(at::kDouble)).sum()}, want_in);
  for (size_t i = 0; i < ours_in.size(); ++i) {
    EXPECT_EQ(ours_grads[i].scalar_type(), at::kBFloat16);
    EXPECT_EQ(ours_grads[i].sizes(), ours_in[i].sizes());
    EXPECT_LT(close(ours_grads[i], want_grads[i]), 3e-2) << "gradient " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16Attention,
                         ::testing::Values(Bf16Case{2, 4, 2}, Bf16Case{1, 4, 4}));

}  // namespace
}  // namespace vlm::models
