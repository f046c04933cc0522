// Global gradient norm and clipping by it.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace vlm::sharding {

// The L2 norm over every gradient (fp64 accumulation, so the result does not depend on the order
// of the parameters). Parameters without a gradient count as zero.
double global_grad_norm(const std::vector<at::Tensor>& params);

// Scales every gradient by max_norm / norm when norm exceeds max_norm (max_norm <= 0: off).
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace vlm::sharding
