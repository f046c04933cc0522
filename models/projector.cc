#include "models/projector.h"

#include "common/error.h"

namespace vlm::models {

ProjectorImpl::ProjectorImpl(const std::string& type, int64_t vision_dim, int64_t llm_dim) {
  VLM_CHECK(type == "mlp2x_gelu" || type == "linear", ConfigError,
            "model.projector.type must be mlp2x_gelu, linear or none, got '", type, "'");
  first = register_module("0", Linear(vision_dim, llm_dim, true));
  if (type == "mlp2x_gelu") second = register_module("2", Linear(llm_dim, llm_dim, true));
}

void ProjectorImpl::initialize(at::Generator& gen) {
  first->init_torch_default(gen);
  if (second) second->init_torch_default(gen);
}

at::Tensor ProjectorImpl::forward(const at::Tensor& features) {
  const at::Tensor h = first(features);
  return second ? second(at::gelu(h)) : h;
}

}  // namespace vlm::models
