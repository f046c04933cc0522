// Inverse-LLaVA (model.architecture inverse_llava): the model-level half of the fusion in
// fusion.h. The vision features never enter the token stream; they travel beside it.
//
// Complementary slotting: the text stream holds the token embeddings at text positions and zeros
// at the image slots (kImageSlot); the vision stream [B, T, d_v] holds the vision features at the
// image slots (row-major over the batch, as for LLaVA's splice) and zeros at text positions.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace vlm::models {

class VisionLanguageModelImpl;

struct InverseLlavaStreams {
  at::Tensor text;            // [B, T, d_h]
  at::Tensor vision;          // [B, T, d_v]; undefined when the batch has no images
  at::Tensor image_features;  // [N, P, d_v]; undefined when the batch has no images
};

// Checks that the model can be an Inverse-LLaVA (a vision tower, no projector; ConfigError naming
// the key otherwise) and adds the fusion modules to the LLM (fusion.h's add_fusion).
void add_inverse_llava_fusion(VisionLanguageModelImpl& model, uint64_t seed);

// Runs the vision tower (under no-grad when it is frozen, as LLaVA's encode_images does) and then
// the token embedding, each between its unit's observer calls, and builds the two streams.
// token_ids: input_ids with the slots replaced by a valid id; slots: input_ids == kImageSlot;
// images [N, 3, H, W] or undefined / N == 0. ShapeError when the slot count is not
// N * tokens_per_image.
InverseLlavaStreams inverse_llava_streams(VisionLanguageModelImpl& model,
                                          const at::Tensor& token_ids, const at::Tensor& slots,
                                          const at::Tensor& images);

}  // namespace vlm::models
