#include "worker/objective_kinds.h"

namespace vlm::worker {

const recipes::ObjectiveKind kLlavaObjective{"llava", std::nullopt, "", {}};
// VDEP's hybrid batches train a LLaVA model; <auto_image> marks a VDEP-mode row's image.
const recipes::ObjectiveKind kVdepObjective{
    "vdep", recipes::Architecture::kLlava, "added_tokens", {"<auto_image>"}};
// The distillation's aux heads exist only while a VoRA stage trains.
const recipes::ObjectiveKind kVoraObjective{"vora", recipes::Architecture::kVora, "aux_heads", {}};

const recipes::ObjectiveCatalogue& objective_kinds() {
  static const recipes::ObjectiveCatalogue kAll{&kLlavaObjective, &kVdepObjective, &kVoraObjective};
  return kAll;
}

}  // namespace vlm::worker
