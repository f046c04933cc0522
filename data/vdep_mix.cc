#include "data/vdep_mix.h"

#include <cmath>

#include "common/error.h"
#include "data/rng.h"

namespace vlm::data {

int64_t VdepMix::vdep_rows(int64_t global_batch, double ratio) {
  // floor(x + 0.5), not llround's half-away-from-zero nor Python's half-to-even: the same
  // integer in both languages for every positive x.
  return static_cast<int64_t>(
      std::floor(static_cast<double>(global_batch) * ratio / (1.0 + ratio) + 0.5));
}

VdepMix::VdepMix(uint64_t seed, int64_t corpus_samples, int64_t global_batch, double ratio)
    : seed_(seed),
      samples_(corpus_samples),
      global_batch_(global_batch),
      vdep_rows_(vdep_rows(global_batch, ratio)) {
  VLM_CHECK(samples_ > 0, ConfigError, "the corpus has no samples");
  VLM_CHECK(vdep_rows_ >= 1 && vdep_rows_ < global_batch_, ConfigError, "vdep.ratio ", ratio,
            " of training.global_batch_size ", global_batch_, " gives ", vdep_rows_,
            " VDEP-mode and ", global_batch_ - vdep_rows_,
            " LLaVA-mode rows a batch (round(B r / (1 + r))): vdep.split exact needs at least one "
            "of each");
  const int64_t llava_rows = global_batch_ - vdep_rows_;
  samples_per_epoch_ = samples_ * global_batch_ / llava_rows;
  roles_.resize(static_cast<size_t>(global_batch_));
  rank_in_mode_.resize(static_cast<size_t>(global_batch_));
}

int64_t VdepMix::stream_at(int mode, int64_t index) {
  const int64_t pass = index / samples_;
  auto& order = pass_order_[mode];
  if (pass != cached_pass_[mode]) {
    order.resize(static_cast<size_t>(samples_));
    for (int64_t i = 0; i < samples_; ++i) order[static_cast<size_t>(i)] = i;
    Rng(derive_seed(seed_, kVdepMixStream, 2 * static_cast<uint64_t>(pass) + mode)).shuffle(order);
    cached_pass_[mode] = pass;
  }
  return order[static_cast<size_t>(index % samples_)];
}

MixedSample VdepMix::at(int64_t position) {
  VLM_CHECK(position >= 0, InternalError, "negative sample position ", position);
  const int64_t batch = position / global_batch_;
  if (batch != cached_batch_) {
    for (int64_t s = 0; s < global_batch_; ++s) roles_[static_cast<size_t>(s)] = s < vdep_rows_;
    Rng(derive_seed(seed_, kVdepRoleStream, static_cast<uint64_t>(batch))).shuffle(roles_);
    int64_t seen[2] = {0, 0};
    for (size_t s = 0; s < roles_.size(); ++s) rank_in_mode_[s] = seen[roles_[s]]++;
    cached_batch_ = batch;
  }
  const auto slot = static_cast<size_t>(position % global_batch_);
  const int mode = roles_[slot];
  const int64_t rows = mode == 1 ? vdep_rows_ : global_batch_ - vdep_rows_;
  return {stream_at(mode, batch * rows + rank_in_mode_[slot]), mode == 1};
}

}  // namespace vlm::data
