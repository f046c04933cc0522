// Rotary position embeddings in HF's rotate_half convention: the two halves of each head's
// vector are rotated as pairs (i, i + head_dim/2), with frequencies theta^(-2i/head_dim).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace vlm::models {

struct RotaryAngles {
  at::Tensor cos;         // [T, head_dim] or [B, T, head_dim]
  at::Tensor signed_sin;  // sin with its first half negated: rotate_half folded into the table
};

// Tables are computed once in double precision and cached per dtype and device, then only sliced
// or gathered per forward pass; they grow when longer positions show up.
class RotaryTable {
 public:
  RotaryTable(int64_t head_dim, double theta, int64_t initial_positions);
  // position_ids undefined: positions 0..seq_len-1 ([T, head_dim]); else [B, T] -> [B, T, hd].
  RotaryAngles lookup(int64_t seq_len, const at::Tensor& position_ids, at::ScalarType dtype,
                      at::Device device = at::kCPU);

 private:
  void grow(int64_t positions);

  int64_t head_dim_;
  double theta_;
  int64_t positions_ = 0;
  RotaryAngles exact_;                                                     // double, CPU
  std::map<std::pair<at::ScalarType, std::string>, RotaryAngles> tables_;  // per dtype and device
};

// x: [B, T, H, head_dim]; angles broadcast over the head dimension.
at::Tensor apply_rotary(const at::Tensor& x, const RotaryAngles& angles);

}  // namespace vlm::models
