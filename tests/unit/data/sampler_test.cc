#include "data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <vector>

namespace vlm::data {
namespace {

// 24 image samples and 9 text-only ones, interleaved, with lengths that differ.
std::shared_ptr<const SampleTraits> mixed_traits() {
  auto traits = std::make_shared<SampleTraits>();
  for (int i = 0; i < 33; ++i) traits->add(i % 10 < 7, 5 + (i * 7) % 13);
  return traits;
}

// LLaVA's get_modality_length_grouped_indices, structurally: megabatches of one modality sorted
// longest first, then the two leftover megabatches together in corpus order, nothing repeated.
TEST(Sampler, ModalityLengthKeepsLlavasLeftoverRule) {
  const auto traits = mixed_traits();
  constexpr int64_t kGroup = 4;
  Sampler sampler(recipes::SamplerKind::kModalityLength, 7, kGroup, traits);
  ASSERT_EQ(sampler.samples_per_epoch(), 33);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const std::vector<int64_t> order = sampler.epoch_order(epoch);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> every(33);
    std::iota(every.begin(), every.end(), 0);
    ASSERT_EQ(sorted, every) << "epoch " << epoch << " is not a permutation";
    // 24 images: 5 megabatches and the last (full: LLaVA takes it even so); 9 texts: 2 and 1.
    const size_t tail_start = order.size() - 5;
    for (size_t start = 0; start < tail_start; start += kGroup) {
      const bool image = traits->has_image(static_cast<size_t>(order[start]));
      for (size_t k = start; k < start + kGroup; ++k) {
        EXPECT_EQ(traits->has_image(static_cast<size_t>(order[k])), image) << "position " << k;
        if (k > start) {
          EXPECT_GE(traits->length(static_cast<size_t>(order[k - 1])),
                    traits->length(static_cast<size_t>(order[k])));
        }
      }
    }
    const std::vector<int64_t> tail(order.begin() + static_cast<std::ptrdiff_t>(tail_start),
                                    order.end());
    EXPECT_TRUE(std::is_sorted(tail.begin(), tail.end()));
    EXPECT_EQ(std::count_if(tail.begin(), tail.end(),
                            [&](int64_t i) { return traits->has_image(static_cast<size_t>(i)); }),
              4);
  }
  EXPECT_NE(sampler.epoch_order(0), sampler.epoch_order(1));
}

// With one modality there is nothing to mix: a short last megabatch simply stays last.
TEST(Sampler, ModalityLengthWithOneModalityKeepsItsShortMegabatchLast) {
  auto traits = std::make_shared<SampleTraits>();
  for (int i = 0; i < 10; ++i) traits->add(true, i);
  Sampler sampler(recipes::SamplerKind::kModalityLength, 3, 4, traits);
  ASSERT_EQ(sampler.samples_per_epoch(), 10);
  const std::vector<int64_t> order = sampler.epoch_order(0);
  ASSERT_EQ(order.size(), 10u);
  EXPECT_GE(traits->length(static_cast<size_t>(order[8])),
            traits->length(static_cast<size_t>(order[9])));
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

}  // namespace
}  // namespace vlm::data
