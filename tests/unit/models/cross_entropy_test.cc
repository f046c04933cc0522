// The lean cross entropy against LibTorch's own, in value and gradient, over several chunks of
// rows, ignored rows and bf16 logits; and the guard on its in-place backward.
#include "models/cross_entropy.h"

#include <gtest/gtest.h>

#include "models/model.h"

namespace vlm::models {
namespace {

struct Case {
  at::Tensor logits;   // leaf, requires grad
  at::Tensor targets;  // some rows ignored
};

Case make_case(int64_t rows, int64_t vocab, at::ScalarType dtype) {
  at::manual_seed(11);
  at::Tensor targets = at::randint(vocab, {rows}, at::TensorOptions().dtype(at::kLong));
  targets.index_put_({at::arange(0, rows, 3)}, kIgnoreLabel);
  return {(at::randn({rows, vocab}) * 3).to(dtype).requires_grad_(), targets};
}

// Both sides in double: the reference is exact to the precision compared.
void expect_matches_reference(int64_t rows, int64_t vocab, at::ScalarType dtype, double tol) {
  const Case c = make_case(rows, vocab, dtype);
  const at::Tensor reference_logits = c.logits.detach().to(at::kDouble).requires_grad_();
  const at::Tensor expected =
      at::cross_entropy_loss(reference_logits, c.targets, {}, at::Reduction::Sum, kIgnoreLabel);
  (expected * 0.5).backward();

  // The function's backward writes over what it saved: give it a copy (a non-leaf).
  const at::Tensor loss = cross_entropy_sum(c.logits * 1, c.targets, kIgnoreLabel);
  (loss * 0.5).backward();

  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), tol * expected.item<double>());
  const at::Tensor grad = c.logits.grad().to(at::kDouble);
  EXPECT_TRUE(at::allclose(grad, reference_logits.grad(), tol, tol))
      << "largest difference " << (grad - reference_logits.grad()).abs().max().item<double>();
  // Ignored rows get exactly zero.
  EXPECT_EQ(grad.index({at::arange(0, rows, 3)}).abs().max().item<double>(), 0.0);
}

TEST(CrossEntropySum, MatchesLibTorchInOneChunk) {
  expect_matches_reference(10, 50, at::kFloat, 1e-5);
}

// A vocabulary of 600K makes a chunk one row: every row its own chunk, the last one short.
TEST(CrossEntropySum, MatchesLibTorchOverManyChunks) {
  expect_matches_reference(5, 600000, at::kFloat, 1e-5);
  expect_matches_reference(37, 40000, at::kFloat, 1e-5);
}

TEST(CrossEntropySum, Bf16LogitsGetABf16GradientFromFloatArithmetic) {
  const Case c = make_case(6, 64, at::kBFloat16);
  const at::Tensor logits = c.logits * 1;
  cross_entropy_sum(logits, c.targets, kIgnoreLabel).backward();
  EXPECT_EQ(c.logits.grad().scalar_type(), at::kBFloat16);
  expect_matches_reference(6, 64, at::kBFloat16, 2e-2);
}

TEST(CrossEntropySum, AllRowsIgnoredGivesZero) {
  const at::Tensor logits = at::randn({4, 9}).requires_grad_();
  const at::Tensor targets = at::full({4}, kIgnoreLabel, at::TensorOptions().dtype(at::kLong));
  const at::Tensor loss = cross_entropy_sum(logits * 1, targets, kIgnoreLabel);
  loss.backward();
  EXPECT_EQ(loss.item<double>(), 0.0);
  EXPECT_EQ(logits.grad().abs().max().item<double>(), 0.0);
}

// A backward that saved the logits too must fail, not read the gradient written over them.
TEST(CrossEntropySum, AnotherReaderOfTheLogitsFailsLoudly) {
  const Case c = make_case(4, 16, at::kFloat);
  const at::Tensor logits = c.logits * 1;
  const at::Tensor also = (logits * logits).sum();  // mul saves `logits` for its backward
  const at::Tensor loss = cross_entropy_sum(logits, c.targets, kIgnoreLabel) + also;
  EXPECT_THROW(loss.backward(), c10::Error);
}

TEST(CrossEntropySum, RejectsMismatchedShapes) {
  EXPECT_ANY_THROW(cross_entropy_sum(at::randn({4, 9}), at::zeros({3}, at::kLong), -100));
  EXPECT_ANY_THROW(cross_entropy_sum(at::randn({2, 4, 9}), at::zeros({8}, at::kLong), -100));
}

}  // namespace
}  // namespace vlm::models
