// Exporting a trained model into a run directory, replacing an older export atomically.
#pragma once

#include <string>

#include "models/model.h"

namespace vlm::checkpoint {

// Writes the model (HF layout, LoRA merged) to folder + ".tmp", then renames it over folder, so
// a reader never sees half an export.
void export_model(const models::VisionLanguageModel& model, const std::string& folder);

}  // namespace vlm::checkpoint
