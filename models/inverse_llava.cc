#include "models/inverse_llava.h"

#include <c10/core/GradMode.h>

#include "common/error.h"
#include "models/fusion.h"
#include "models/model_impl.h"

namespace vlm::models {

void add_inverse_llava_fusion(VisionLanguageModelImpl& model, uint64_t seed) {
  VLM_CHECK(model.vision, ConfigError,
            "model.vision.type must name the vision tower for model.architecture inverse_llava");
  VLM_CHECK(!model.projector, ConfigError,
            "model.projector.type must be none for model.architecture inverse_llava, got ",
            recipes::name_of(model.config.projector.type));
  add_fusion(*model.llm, model.config.fusion,
             fusion_vision_width(model.vision->config(), model.config.fusion), seed);
}

InverseLlavaStreams inverse_llava_streams(VisionLanguageModelImpl& model,
                                          const at::Tensor& token_ids, const at::Tensor& slots,
                                          const at::Tensor& images) {
  InverseLlavaStreams out;
  if (images.defined() && images.size(0) > 0) {
    const at::Tensor pixels = images.to(model.vision->options());
    // A frozen tower needs no graph: skipping it saves the activations and the bookkeeping.
    c10::AutoGradMode grad_mode(c10::GradMode::is_enabled() && model.vision_trains());
    out.image_features = model.observed("vision", [&] {
      return fusion_features(*model.vision, pixels, model.config.fusion.vision_layers);
    });
  }
  const at::Tensor token_embeds =
      model.observed("llm.embed_tokens", [&] { return model.llm->embed(token_ids); });
  out.text = token_embeds.masked_fill(slots.unsqueeze(-1), 0.0);
  if (out.image_features.defined()) {
    const int64_t width = out.image_features.size(-1);
    const at::Tensor empty_stream =
        at::zeros({token_ids.size(0), token_ids.size(1), width}, token_embeds.options());
    out.vision = model.splice(empty_stream, slots, out.image_features);
  } else {
    model.splice(token_embeds, slots, at::Tensor());  // only checks that no slot waits for images
  }
  return out;
}

}  // namespace vlm::models
