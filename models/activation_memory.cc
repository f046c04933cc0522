#include "models/activation_memory.h"

#include <algorithm>

namespace vlm::models {
namespace {

int64_t kv_width(const recipes::LlmConfig& llm) {
  const int64_t heads = llm.num_heads > 0 ? llm.num_heads : 1;
  const int64_t kv_heads = llm.num_kv_heads > 0 ? llm.num_kv_heads : heads;
  return llm.hidden_size / heads * kv_heads;
}

// Elements a decoder block keeps per token: two RMSNorms (input and normalised output each,
// 4 d), queries and keys before and after RoPE (2 d + 2 kv), values (kv), the scaled queries and
// the attention output o_proj reads (2 d), the softmax probabilities (heads x keys), and
// SwiGLU's gate, silu(gate), up and their product (4 i). An Inverse-LLaVA fusion block also keeps
// its vision stream and the fused projections' inputs.
int64_t block_elements_per_token(const recipes::ModelSection& config, int64_t keys, bool fuses) {
  const recipes::LlmConfig& llm = config.llm;
  const int64_t d = llm.hidden_size, kv = kv_width(llm), i = llm.intermediate_size;
  int64_t elements = 4 * d + (2 * d + 2 * kv) + kv + 2 * d + llm.num_heads * keys + 4 * i;
  if (fuses) elements += 3 * config.vision.hidden_size + 2 * d;
  return elements;
}

// The widest per-token tensor of the head: the logits, kept in fp32 by the loss (and its
// gradient written over them), beside the final norm's input and output.
int64_t head_bytes_per_token(const recipes::LlmConfig& llm, int64_t element_bytes) {
  return llm.vocab_size * 4 + 3 * llm.hidden_size * element_bytes;
}

// The vision tower's own activations per image when it trains (CLIP's blocks: two LayerNorms,
// q/k/v/out, the probabilities and the 2-wide MLP), and what the trainable image path keeps.
int64_t vision_elements_per_image(const recipes::ModelSection& config, bool tower_trains,
                                  bool path_trains) {
  const recipes::VisionConfig& vision = config.vision;
  if (vision.type == recipes::VisionType::kNone || vision.image_size <= 0 || vision.patch_size <= 0)
    return 0;
  const int64_t grid = vision.image_size / vision.patch_size;
  const int64_t tokens =
      grid * grid + (vision.type == recipes::VisionType::kClip ? 1 : 0);  // CLIP's class token
  int64_t elements = 0;
  if (tower_trains) {
    const int64_t d = vision.hidden_size, i = vision.intermediate_size;
    const int64_t per_token = 4 * d + 5 * d + vision.num_heads * tokens + 2 * i;
    elements += tokens * per_token * vision.num_layers;
  }
  // The projector keeps its input, the hidden layer and its activation.
  if (path_trains) elements += tokens * (vision.hidden_size + 2 * config.llm.hidden_size);
  return elements;
}

}  // namespace

ActivationEstimate estimate_activations(const recipes::ModelSection& config,
                                        const ActivationShape& shape) {
  const recipes::LlmConfig& llm = config.llm;
  const int64_t tokens = shape.samples * shape.tokens;
  const int64_t bytes = shape.element_bytes;
  const bool inverse = config.architecture == recipes::Architecture::kInverseLlava;
  int64_t block_bytes_sum = 0, largest_block_bytes = 0;
  for (int64_t layer = 0; layer < llm.num_layers; ++layer) {
    const bool fuses =
        inverse && std::find(config.fusion.layers.begin(), config.fusion.layers.end(), layer) !=
                       config.fusion.layers.end();
    const int64_t block = tokens * block_elements_per_token(config, shape.tokens, fuses) * bytes;
    block_bytes_sum += block;
    largest_block_bytes = std::max(largest_block_bytes, block);
  }
  ActivationEstimate estimate;
  // With recomputation a block keeps only its input; the one being recomputed holds its whole set
  // during its backward.
  estimate.saved =
      shape.recompute ? tokens * llm.hidden_size * bytes * llm.num_layers : block_bytes_sum;
  // The embedding output (spliced with the images) and the head.
  estimate.saved += tokens * llm.hidden_size * bytes + tokens * head_bytes_per_token(llm, bytes);
  estimate.saved += shape.samples * shape.images * bytes *
                    vision_elements_per_image(config, shape.vision_trains, shape.image_path_trains);
  // Backward of a block: its activations' gradients (about its activations again), plus, when
  // recomputing, the recomputed activations themselves; in forward, the attention scores beside
  // their softmax.
  const int64_t scores = tokens * llm.num_heads * shape.tokens * 4;
  estimate.working = (shape.recompute ? 2 : 1) * largest_block_bytes + scores;
  return estimate;
}

}  // namespace vlm::models
