#include "data/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "data/rng.h"

namespace vlm::data {
namespace {

constexpr uint64_t kRandomStream = 0x72616e646f6dULL;   // "random"
constexpr uint64_t kModalityStream = 0x6d6f64616cULL;   // "modal"
constexpr uint64_t kMegabatchStream = 0x6d65676155ULL;  // megabatch order
constexpr uint64_t kMixStream = 0x6d6978ULL;            // "mix"

}  // namespace

void SampleTraits::reserve(size_t samples) {
  length_.reserve(samples);
  has_image_.reserve(samples);
}

void SampleTraits::add(bool has_image, int64_t words) {
  length_.push_back(
      static_cast<int32_t>(std::clamp<int64_t>(words, 0, std::numeric_limits<int32_t>::max())));
  has_image_.push_back(has_image);
}

Sampler::Sampler(recipes::SamplerKind kind, uint64_t seed, int64_t group_size,
                 std::shared_ptr<const SampleTraits> traits, double text_only_fraction)
    : kind_(kind), seed_(seed), group_size_(group_size), traits_(std::move(traits)) {
  VLM_CHECK(traits_ != nullptr && !traits_->empty(), ConfigError, "the corpus has no samples");
  VLM_CHECK(group_size_ > 0, InternalError, "sampler group size must be positive");
  if (text_only_fraction > 0) {
    init_mixture(text_only_fraction);
    return;
  }
  samples_per_epoch_ = static_cast<int64_t>(traits_->size());
}

void Sampler::init_mixture(double text_only_fraction) {
  VLM_CHECK(kind_ == recipes::SamplerKind::kRandom, ConfigError,
            "data.text_only_fraction needs data.sampler random (modality_length keeps batches to "
            "one modality)");
  texts_per_group_ = std::llround(text_only_fraction * static_cast<double>(group_size_));
  const int64_t images_per_group = group_size_ - texts_per_group_;
  const auto images = static_cast<int64_t>(members(true).size());
  const auto texts = static_cast<int64_t>(members(false).size());
  VLM_CHECK(texts_per_group_ > 0 && images_per_group > 0, ConfigError, "data.text_only_fraction ",
            text_only_fraction, " of a batch of ", group_size_, " leaves ", texts_per_group_,
            " text-only and ", images_per_group, " image samples: both must be at least 1");
  VLM_CHECK(texts > 0 && images >= images_per_group, ConfigError, "data.text_only_fraction ",
            text_only_fraction, " needs text-only samples and at least ", images_per_group,
            " image samples; the corpus has ", texts, " and ", images);
  samples_per_epoch_ = images / images_per_group * group_size_;
}

std::vector<int64_t> Sampler::members(bool with_image) const {
  std::vector<int64_t> out;
  for (size_t i = 0; i < traits_->size(); ++i) {
    if (traits_->has_image(i) == with_image) out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

std::vector<int64_t> Sampler::mixed_order(uint64_t seed) const {
  std::vector<int64_t> images = members(true);
  Rng(derive_seed(seed, kMixStream, 0)).shuffle(images);
  const std::vector<int64_t> texts = members(false);
  std::vector<int64_t> text_stream;
  const int64_t groups = samples_per_epoch_ / group_size_;
  for (uint64_t cycle = 1; static_cast<int64_t>(text_stream.size()) < groups * texts_per_group_;
       ++cycle) {
    std::vector<int64_t> permutation = texts;
    Rng(derive_seed(seed, kMixStream, cycle)).shuffle(permutation);
    text_stream.insert(text_stream.end(), permutation.begin(), permutation.end());
  }
  Rng within(derive_seed(seed, kMixStream, ~uint64_t{0}));
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(samples_per_epoch_));
  const int64_t images_per_group = group_size_ - texts_per_group_;
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<int64_t> group(images.begin() + g * images_per_group,
                               images.begin() + (g + 1) * images_per_group);
    group.insert(group.end(), text_stream.begin() + g * texts_per_group_,
                 text_stream.begin() + (g + 1) * texts_per_group_);
    within.shuffle(group);
    order.insert(order.end(), group.begin(), group.end());
  }
  return order;
}

int64_t Sampler::at(int64_t position) {
  VLM_CHECK(position >= 0, InternalError, "negative sample position ", position);
  const int64_t epoch = position / samples_per_epoch_;
  if (epoch != cached_epoch_) {
    cached_order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  return cached_order_[static_cast<size_t>(position % samples_per_epoch_)];
}

std::vector<int64_t> Sampler::epoch_order(int64_t epoch) const {
  const uint64_t epoch_seed = derive_seed(seed_, static_cast<uint64_t>(epoch));
  if (texts_per_group_ > 0) return mixed_order(epoch_seed);
  return kind_ == recipes::SamplerKind::kRandom ? random_order(epoch_seed)
                                                : modality_order(epoch_seed);
}

std::vector<int64_t> Sampler::random_order(uint64_t seed) const {
  std::vector<int64_t> order(traits_->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  Rng(derive_seed(seed, kRandomStream)).shuffle(order);
  return order;
}

std::vector<int64_t> Sampler::modality_order(uint64_t seed) const {
  std::vector<std::vector<int64_t>> megabatches;
  std::vector<int64_t> tail;
  std::vector<int64_t> by_modality[2] = {members(false), members(true)};
  const bool both_modalities = !by_modality[0].empty() && !by_modality[1].empty();
  for (const bool image : {true, false}) {
    std::vector<int64_t>& group_members = by_modality[image ? 1 : 0];
    if (group_members.empty()) continue;
    Rng(derive_seed(seed, kModalityStream, image ? 1 : 0)).shuffle(group_members);
    for (size_t start = 0; start < group_members.size();
         start += static_cast<size_t>(group_size_)) {
      const size_t end = std::min(group_members.size(), start + static_cast<size_t>(group_size_));
      std::vector<int64_t> group(group_members.begin() + static_cast<std::ptrdiff_t>(start),
                                 group_members.begin() + static_cast<std::ptrdiff_t>(end));
      if (end == group_members.size() && both_modalities) {
        tail.insert(tail.end(), group.begin(), group.end());
        continue;
      }
      std::stable_sort(group.begin(), group.end(), [&](int64_t a, int64_t b) {
        return traits_->length(static_cast<size_t>(a)) > traits_->length(static_cast<size_t>(b));
      });
      megabatches.push_back(std::move(group));
    }
  }
  // One modality alone: a short last megabatch stays last (LLaVA orders that modality by one
  // permutation and draws no megabatch order after it; a full one may go anywhere).
  std::vector<int64_t> last;
  if (!both_modalities && megabatches.back().size() < static_cast<size_t>(group_size_)) {
    last = std::move(megabatches.back());
    megabatches.pop_back();
  }
  Rng(derive_seed(seed, kMegabatchStream)).shuffle(megabatches);
  std::sort(tail.begin(), tail.end());
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(samples_per_epoch_));
  for (const auto& group : megabatches) order.insert(order.end(), group.begin(), group.end());
  order.insert(order.end(), last.begin(), last.end());
  order.insert(order.end(), tail.begin(), tail.end());
  return order;
}

}  // namespace vlm::data
