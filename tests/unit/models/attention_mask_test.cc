#include "models/attention_mask.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace vlm::models {
namespace {

// Row 0: 7 real tokens, an image at positions 1..3. Row 1: 5 real tokens (2 padded), an image at
// positions 0..1. Expected allowed (1) / masked (0) entries written out by hand, [query][key].
TEST(AttentionMask, MatchesHandWrittenTable) {
  const int kAllowed[2][7][7] = {{
                                     {1, 0, 0, 0, 0, 0, 0},
                                     {1, 1, 1, 1, 0, 0, 0},
                                     {1, 1, 1, 1, 0, 0, 0},
                                     {1, 1, 1, 1, 0, 0, 0},
                                     {1, 1, 1, 1, 1, 0, 0},
                                     {1, 1, 1, 1, 1, 1, 0},
                                     {1, 1, 1, 1, 1, 1, 1},
                                 },
                                 {
                                     {1, 1, 0, 0, 0, 0, 0},
                                     {1, 1, 0, 0, 0, 0, 0},
                                     {1, 1, 1, 0, 0, 0, 0},
                                     {1, 1, 1, 1, 0, 0, 0},
                                     {1, 1, 1, 1, 1, 0, 0},
                                     {1, 1, 1, 1, 1, 0, 0},  // padding: sees the real keys
                                     {1, 1, 1, 1, 1, 0, 0},
                                 }};
  const at::Tensor mask = build_attention_mask(2, 7, {7, 5}, {{0, 1, 3}, {1, 0, 2}});
  ASSERT_EQ(mask.sizes(), at::IntArrayRef({2, 1, 7, 7}));
  EXPECT_EQ(mask.scalar_type(), at::kFloat);
  const auto values = mask.accessor<float, 4>();
  for (int b = 0; b < 2; ++b) {
    for (int q = 0; q < 7; ++q) {
      for (int k = 0; k < 7; ++k) {
        const float v = values[b][0][q][k];
        if (kAllowed[b][q][k]) {
          EXPECT_EQ(v, 0.0f) << "b " << b << " q " << q << " k " << k;
        } else {
          EXPECT_TRUE(std::isinf(v) && v < 0) << "b " << b << " q " << q << " k " << k;
        }
      }
    }
  }
}

TEST(AttentionMask, NoRowIsFullyMaskedAndDtypeIsKept) {
  const at::Tensor mask = build_attention_mask(3, 5, {5, 2, 0}, {}, at::kBFloat16);
  EXPECT_EQ(mask.scalar_type(), at::kBFloat16);
  const at::Tensor probs = at::softmax(mask.to(at::kFloat), -1);
  EXPECT_FALSE(probs.isnan().any().item<bool>());
}

TEST(AttentionMask, RejectsInconsistentArguments) {
  EXPECT_THROW(build_attention_mask(2, 4, {4}, {}), ShapeError);
  EXPECT_THROW(build_attention_mask(1, 4, {5}, {}), ShapeError);
  EXPECT_THROW(build_attention_mask(1, 4, {4}, {{1, 0, 2}}), ShapeError);
  EXPECT_THROW(build_attention_mask(1, 4, {3}, {{0, 2, 2}}), ShapeError);  // into the padding
}

}  // namespace
}  // namespace vlm::models
