// Activation checkpointing: a block's forward runs without keeping its activations, and runs
// again during backward to get them. Memory for activations then shrinks to one block's worth
// plus each block's input, for about one more forward pass of compute.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace vlm::models {

// Returns block(input) computed without a graph inside the block; its backward recomputes
// block(input) with one and differentiates it, for the input and for `params` (the block's
// parameters that train: they must be listed, since the block reads them without their being
// inputs). The random state at the first call is restored for the recomputation, so dropout
// draws the same masks.
at::Tensor recomputed(const std::function<at::Tensor(const at::Tensor&)>& block,
                      const at::Tensor& input, const std::vector<at::Tensor>& params);

}  // namespace vlm::models
