#include "models/projector.h"

#include "common/error.h"

namespace vlm::models {

ProjectorImpl::ProjectorImpl(recipes::ProjectorType type, int64_t vision_dim, int64_t llm_dim) {
  VLM_CHECK(type != recipes::ProjectorType::kNone, InternalError,
            "a projector module of type none: there should be none at all");
  first = register_module("0", Linear(vision_dim, llm_dim, true));
  if (type == recipes::ProjectorType::kMlp2xGelu)
    second = register_module("2", Linear(llm_dim, llm_dim, true));
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
