// The order in which a stage reads its corpus: a pure function of (seed, epoch), so any world
// size, any rank split and any resume point walk the same stream of samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recipes/recipe.h"

namespace vlm::data {

// What the sampler knows of each sample, as compact columns (~4 bytes a sample, so 30M samples
// stay ~125 MB): whether it has images, and a cheap length estimate (words over all turns,
// LLaVA's modality_length before its sign) for length grouping.
class SampleTraits {
 public:
  void reserve(size_t samples);
  void add(bool has_image, int64_t words);  // words saturate at INT32_MAX
  size_t size() const { return length_.size(); }
  bool empty() const { return length_.empty(); }
  bool has_image(size_t sample) const { return has_image_[sample]; }
  int32_t length(size_t sample) const { return length_[sample]; }

 private:
  std::vector<int32_t> length_;
  std::vector<bool> has_image_;  // one bit a sample
};

class Sampler {
 public:
  // kind "random": each epoch is a fresh permutation of the corpus.
  // kind "modality_length" (LLaVA's group_by_modality_length): image and text-only samples are
  // shuffled separately and cut into megabatches of group_size samples of one modality, each
  // sorted by length (longest first) so the micro batches inside a global batch hold similar
  // lengths; the megabatch order is shuffled. As in LLaVA's get_modality_length_grouped_indices,
  // the last megabatch of each modality (full or not) is kept out of the shuffle: the two go
  // last in the epoch, together and ordered by corpus index, so the epoch's last one or two
  // global batches mix image and text-only samples and no sample is repeated. With group_size
  // equal to the global batch every other batch is all-image or all-text.
  //
  // text_only_fraction > 0 (kind "random" only; VoRA's mixture): every group of group_size
  // samples holds round(fraction x group_size) text-only samples, the rest image samples, shuffled
  // together. An epoch is the image samples once (the last partial group dropped); the text-only
  // samples are cycled through as many fresh permutations as it takes.
  Sampler(recipes::SamplerKind kind, uint64_t seed, int64_t group_size,
          std::shared_ptr<const SampleTraits> traits, double text_only_fraction = 0.0);

  int64_t samples_per_epoch() const { return samples_per_epoch_; }
  // The corpus index at a global position (epoch = position / samples_per_epoch). Caches the
  // current epoch's order; not thread-safe.
  int64_t at(int64_t position);
  // The whole order of one epoch.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  std::vector<int64_t> random_order(uint64_t seed) const;
  std::vector<int64_t> modality_order(uint64_t seed) const;
  std::vector<int64_t> mixed_order(uint64_t seed) const;
  void init_mixture(double text_only_fraction);
  std::vector<int64_t> members(bool with_image) const;

  recipes::SamplerKind kind_;
  uint64_t seed_;
  int64_t group_size_;
  int64_t texts_per_group_ = 0;  // text_only_fraction x group_size; 0: no fixed mixture
  std::shared_ptr<const SampleTraits> traits_;  // shared with the sample source, not copied
  int64_t samples_per_epoch_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> cached_order_;
};

}  // namespace vlm::data
