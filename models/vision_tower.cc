#include "models/vision_tower.h"

#include <memory>
#include <string>
#include <utility>

#include "common/error.h"
#include "models/aimv2.h"
#include "models/vision.h"

namespace vlm::models {
namespace {

void validate_shapes(const recipes::VisionConfig& config) {
  VLM_CHECK(
      config.patch_size > 0 && config.image_size > 0 && config.image_size % config.patch_size == 0,
      ConfigError, "model.vision.patch_size (", config.patch_size,
      ") must divide model.vision.image_size (", config.image_size, ")");
  VLM_CHECK(config.hidden_size > 0 && config.intermediate_size > 0, ConfigError,
            "model.vision.hidden_size and intermediate_size must be positive");
  VLM_CHECK(config.num_heads > 0 && config.hidden_size % config.num_heads == 0, ConfigError,
            "model.vision.num_heads (", config.num_heads,
            ") must divide model.vision.hidden_size (", config.hidden_size, ")");
  VLM_CHECK(config.num_layers >= 0, ConfigError, "model.vision.num_layers must not be negative");
  VLM_CHECK(
      config.feature_layer >= -(config.num_layers + 1) && config.feature_layer <= config.num_layers,
      ConfigError, "model.vision.feature_layer ", config.feature_layer, " is out of range for ",
      config.num_layers, " layers (hidden states ", -(config.num_layers + 1), "..",
      config.num_layers, ")");
  VLM_CHECK(config.position_init != recipes::PositionInit::kSincos || config.hidden_size % 4 == 0,
            ConfigError,
            "model.vision.hidden_size must be a multiple of 4 for position_init sincos");
}

}  // namespace

void validate_vision_config(const recipes::VisionConfig& config) {
  VLM_CHECK(config.type != recipes::VisionType::kNone, ConfigError,
            "model.vision.type must be clip or aimv2 for a vision tower, got none");
  validate_shapes(config);
  if (config.type == recipes::VisionType::kClip) {
    VLM_CHECK(config.layer_norm_eps > 0, ConfigError,
              "model.vision.layer_norm_eps must be positive");
    return;
  }
  VLM_CHECK(config.rms_norm_eps > 0, ConfigError, "model.vision.rms_norm_eps must be positive");
  VLM_CHECK(!config.drop_cls, ConfigError,
            "model.vision.drop_cls must be false for model.vision.type aimv2: AIMv2 has no class "
            "token to drop");
}

VisionTowerImpl::VisionTowerImpl(const recipes::VisionConfig& config) : config_(config) {
  validate_vision_config(config_);
}

int64_t VisionTowerImpl::feature_index() const {
  return config_.feature_layer >= 0 ? config_.feature_layer
                                    : config_.num_layers + 1 + config_.feature_layer;
}

at::Tensor VisionTowerImpl::features(const at::Tensor& pixels) {
  const at::Tensor selected = hidden_states(pixels, feature_index() + 1).back();
  return config_.drop_cls ? patch_tokens(selected) : selected;
}

at::Tensor VisionTowerImpl::patch_tokens(const at::Tensor& state) const {
  return has_class_token() ? state.narrow(1, 1, state.size(1) - 1) : state;
}

int64_t VisionTowerImpl::patches_per_image() const {
  const int64_t grid = config_.image_size / config_.patch_size;
  return grid * grid;
}

int64_t VisionTowerImpl::sequence_length() const {
  return patches_per_image() + (has_class_token() ? 1 : 0);
}

int64_t VisionTowerImpl::tokens_per_image() const {
  // validate_vision_config allows drop_cls only for a tower with a class token.
  return sequence_length() - (config_.drop_cls ? 1 : 0);
}

VisionTower make_vision_tower(const recipes::VisionConfig& config) {
  validate_vision_config(config);
  std::shared_ptr<VisionTowerImpl> tower;
  if (config.type == recipes::VisionType::kAimv2) {
    tower = std::make_shared<Aimv2VisionImpl>(config);
  } else {
    tower = std::make_shared<ClipVisionImpl>(config);
  }
  return VisionTower(std::move(tower));
}

int64_t vision_parameter_count(const recipes::VisionConfig& config) {
  validate_vision_config(config);
  if (config.type == recipes::VisionType::kAimv2) return Aimv2VisionImpl::parameter_count(config);
  return ClipVisionImpl::parameter_count(config);
}

}  // namespace vlm::models
