// How much memory a training micro batch's activations take in this model's implementation: what
// autograd keeps from forward to backward, and the largest working set on top of it. An estimate
// from the shapes (vlm-worker --plan, the memory plan a stage logs), written against the layers
// as models/ computes them: RMSNorm keeps its input and normalised output, attention keeps the
// scaled queries, keys, values and the softmax probabilities (heads x T per token), SwiGLU its four
// intermediate-width tensors, the LM head the logits in fp32 (the loss's gradient overwrites them).
#pragma once

#include <cstdint>

#include "recipes/recipe.h"

namespace vlm::models {

struct ActivationShape {
  int64_t samples = 1;            // a micro batch's sequences
  int64_t tokens = 2048;          // per sequence (the longest a batch may hold: data.max_seq_len)
  int64_t images = 1;             // per sequence
  int64_t element_bytes = 4;      // the compute dtype's
  bool recompute = false;         // activation checkpointing of every decoder block
  bool vision_trains = false;     // the tower keeps activations only when it trains
  bool image_path_trains = true;  // a projector / fusion / vision embedding that trains
};

struct ActivationEstimate {
  int64_t saved = 0;    // kept from forward to backward, for the whole micro batch
  int64_t working = 0;  // the largest transient on top (a block recomputed or in backward, the
                        // attention scores, the logits' chunked loss)
  int64_t total() const { return saved + working; }
};

// config: the model's effective config (VisionLanguageModel::config()).
ActivationEstimate estimate_activations(const recipes::ModelSection& config,
                                        const ActivationShape& shape);

}  // namespace vlm::models
