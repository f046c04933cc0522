#include "models/vision_embedding.h"

#include <vector>

#include "common/error.h"
#include "models/init.h"

namespace vlm::models {
namespace {

constexpr double kPositionInitStd = 0.02;

int64_t checked_grid(const recipes::VisionEmbeddingConfig& embedding,
                     const recipes::VisionConfig& teacher) {
  VLM_CHECK(embedding.hidden_size > 0, ConfigError,
            "model.vision_embedding.hidden_size must be positive, got ", embedding.hidden_size);
  VLM_CHECK(teacher.patch_size > 0 && teacher.image_size > 0 &&
                teacher.image_size % teacher.patch_size == 0,
            ConfigError, "model.vision.patch_size (", teacher.patch_size,
            ") must divide model.vision.image_size (", teacher.image_size,
            "): the vision embedding uses the teacher's patch grid");
  return teacher.image_size / teacher.patch_size;
}

}  // namespace

PatchConvImpl::PatchConvImpl(int64_t out_channels, int64_t patch) : patch_(patch) {
  weight = register_parameter("weight", new_parameter({out_channels, 3, patch, patch}));
  bias = register_parameter("bias", zero_parameter({out_channels}));
}

at::Tensor PatchConvImpl::forward(const at::Tensor& pixels) const {
  return at::conv2d(pixels, weight, bias, patch_);
}

VisionEmbeddingImpl::VisionEmbeddingImpl(const recipes::VisionEmbeddingConfig& embedding,
                                         const recipes::VisionConfig& teacher,
                                         const recipes::LlmConfig& llm)
    : patch_(teacher.patch_size), grid_(checked_grid(embedding, teacher)) {
  const int64_t width = embedding.hidden_size;
  position_embedding =
      register_parameter("position_embedding", new_parameter({grid_ * grid_, width}));
  patch_embed = register_module("patch_embed", PatchConv(width, patch_));
  norm = register_module("norm", RmsNorm(width, llm.rms_norm_eps));
  proj = register_module("proj", Linear(width, llm.hidden_size, false));
}

void VisionEmbeddingImpl::initialize(at::Generator& gen) {
  init::kaiming_uniform(patch_embed->weight, gen);
  init::linear_bias(patch_embed->bias, patch_embed->weight.numel() / patch_embed->weight.size(0),
                    gen);
  init::normal(position_embedding, kPositionInitStd, gen);
  init::ones(norm->weight);
  proj->init_torch_default(gen);
}

at::Tensor VisionEmbeddingImpl::positions_for(int64_t rows, int64_t cols) const {
  if (rows == grid_ && cols == grid_) return position_embedding;
  const int64_t width = position_embedding.size(1);
  // [P, d] -> [1, d, grid, grid], resized, and back to [rows * cols, d] in row-major order.
  const at::Tensor table = position_embedding.t().reshape({1, width, grid_, grid_});
  const std::vector<int64_t> size = {rows, cols};
  const at::Tensor resized =
      at::upsample_bilinear2d(table, at::IntArrayRef(size), /*align_corners=*/false);
  return resized.reshape({width, rows * cols}).t();
}

at::Tensor VisionEmbeddingImpl::forward(const at::Tensor& pixels) {
  VLM_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) > 0 &&
                pixels.size(2) % patch_ == 0 && pixels.size(3) > 0 && pixels.size(3) % patch_ == 0,
            ShapeError, "the vision embedding takes images [N, 3, H, W] with H and W multiples of ",
            "model.vision.patch_size ", patch_, ", got ", pixels.sizes());
  const at::Tensor patches = patch_embed(pixels);  // [N, d_e, rows, cols]
  const int64_t rows = patches.size(2), cols = patches.size(3);
  const at::Tensor tokens = patches.flatten(2).transpose(1, 2);  // [N, rows * cols, d_e]
  return proj(norm(tokens) + positions_for(rows, cols));
}

}  // namespace vlm::models
