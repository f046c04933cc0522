// The parts behind VisionLanguageModel (internal to models/ and its tests).
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "models/llm.h"
#include "models/model.h"
#include "models/projector.h"
#include "models/vision_embedding.h"
#include "models/vision_tower.h"
#include "models/vora.h"

namespace vlm::models {

class VisionLanguageModelImpl {
 public:
  VisionLanguageModelImpl(const recipes::ModelSection& config, int64_t vocab_size, uint64_t seed);

  // images [N, 3, H, W] -> image embeddings [N, P, d_h].
  at::Tensor encode_images(const at::Tensor& images);
  // Writes image_embeds into the kImageSlot positions of embeds (row-major order).
  at::Tensor splice(const at::Tensor& embeds, const at::Tensor& slots,
                    const at::Tensor& image_embeds) const;
  bool vision_trains() const;
  // A tokenizer with more tokens than the loaded checkpoint's rows (an added token such as
  // VDEP's <auto_image>): grows the LLM as LLaVA's smart_tokenizer_and_embedding_resize does.
  void grow_vocabulary(int64_t rows);
  // Built on the meta device (during construction only: ParameterPlacement says so).
  bool shapes_only() const;

  recipes::ModelSection config;  // effective
  std::shared_ptr<torch::nn::Module> root;
  VisionTower vision{nullptr};   // null: vision.type none (or a vora teacher dropped)
  Projector projector{nullptr};  // null: projector.type none
  CausalLm llm{nullptr};
  VisionEmbedding vision_embedding{nullptr};  // architecture vora only
  AuxHeads aux_heads{nullptr};                // vora, from add_aux_heads to drop_aux_heads
  UnitObserver* observer = nullptr;           // not owned

  // Runs fn between the observer's before(unit) and after(unit, output).
  template <typename Fn>
  at::Tensor observed(const std::string& unit, Fn&& fn) {
    if (observer) observer->before(unit);
    at::Tensor output = fn();
    return observer ? observer->after(unit, std::move(output)) : output;
  }
};

// VisionLanguageModel::load_hf's work (also used while constructing).
void load_hf_part(VisionLanguageModelImpl& model, const std::string& part,
                  const std::string& folder);

// Scalar settings of a config.json that must agree with a built model (ConfigError otherwise).
void check_same_settings(const recipes::LlmConfig& model, const recipes::LlmConfig& file,
                         const std::string& source);
void check_same_settings(const recipes::VisionConfig& model, const recipes::VisionConfig& file,
                         const std::string& source);

}  // namespace vlm::models
