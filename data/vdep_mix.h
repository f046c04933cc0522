// VDEP's exact split (vdep.split exact): which corpus sample, in which mode, sits at each global
// position. vdep.txt 3.3: "within each batch, the data is evenly divided, with one half (randomly
// selected) used to compute the image loss and the other half to compute the text loss"; 4: "We
// double the input data to ensure these two strategies receive fair and sufficient training".
//
// The rule, a pure function of (seed, corpus size N, global batch B, ratio r), so that any world
// size, micro-batch split and resume point reads the same rows (tests/reference/vdep_split.py
// recomputes it in Python; rng.h's mix64, derive_seed and Rng are the only primitives):
//   V = round_half_up(B r / (1 + r)) VDEP rows and L = B - V LLaVA rows in every global batch.
//   Mode m (0: LLaVA, 1: VDEP) reads the stream S_m, pass p of which is the corpus
//   [0, N) shuffled by Rng(derive_seed(seed, kVdepMixStream, 2 p + m)).shuffle:
//   S_m[k] = pass floor(k / N), entry k mod N.
//   Global batch b lays out V ones and L zeros (VDEP ones first), shuffled by
//   Rng(derive_seed(seed, kVdepRoleStream, b)).shuffle: slot s is VDEP when its entry is 1.
//   The slot's sample is S_1[b V + j] for the j-th VDEP slot of the batch (counted from slot 0),
//   else S_0[b L + j] for the j-th LLaVA slot.
//   An epoch is one LLaVA pass: floor(N B / L) positions (2N for r = 1 and B even).
#pragma once

#include <cstdint>
#include <vector>

namespace vlm::data {

constexpr uint64_t kVdepMixStream = 0x76646570ULL;     // "vdep"
constexpr uint64_t kVdepRoleStream = 0x726f6c6573ULL;  // "roles"

// One row of a hybrid batch.
struct MixedSample {
  int64_t sample = 0;  // corpus index
  bool vdep = false;   // VDEP mode: "<auto_image>" before the image, the image term
};

class VdepMix {
 public:
  // ConfigError unless both modes get at least one row of each global batch.
  VdepMix(uint64_t seed, int64_t corpus_samples, int64_t global_batch, double ratio);

  int64_t vdep_rows_per_batch() const { return vdep_rows_; }
  int64_t samples_per_epoch() const { return samples_per_epoch_; }
  // The row at a global position. Caches the current pass of each stream and the current
  // batch's layout; not thread-safe.
  MixedSample at(int64_t position);

  // round_half_up(B r / (1 + r)), the VDEP rows of a global batch of B.
  static int64_t vdep_rows(int64_t global_batch, double ratio);

 private:
  int64_t stream_at(int mode, int64_t index);

  uint64_t seed_;
  int64_t samples_;
  int64_t global_batch_;
  int64_t vdep_rows_;
  int64_t samples_per_epoch_;
  int64_t cached_pass_[2] = {-1, -1};
  std::vector<int64_t> pass_order_[2];
  int64_t cached_batch_ = -1;
  std::vector<uint8_t> roles_;         // 1: VDEP slot, for the cached batch
  std::vector<int64_t> rank_in_mode_;  // j of each slot among its mode's slots
};

}  // namespace vlm::data
