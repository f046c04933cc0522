#include "checkpoint/model_export.h"

#include <filesystem>

#include "common/error.h"
#include "common/files.h"

namespace vlm::checkpoint {

void export_model(const models::VisionLanguageModel& model, const std::string& folder) {
  namespace fs = std::filesystem;
  const std::string staging = folder + ".tmp";
  std::error_code ec;
  fs::remove_all(staging, ec);
  files::make_directories(staging);
  model.save_hf(staging);
  const std::string old = folder + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(folder)) fs::rename(folder, old);
  fs::rename(staging, folder, ec);
  VLM_CHECK(!ec, IoError, "cannot move ", staging, " to ", folder, ": ", ec.message());
  fs::remove_all(old, ec);
}

}  // namespace vlm::checkpoint
