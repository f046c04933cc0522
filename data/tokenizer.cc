// load_tokenizer: which reader a path goes to (see data/tokenizer.h).
#include <filesystem>
#include <string_view>
#include <system_error>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "data/hf_tokenizer.h"
#include "data/tokenizer.h"

namespace vlm::data {
namespace {

// A folder's tokenizer file: tokenizer.json first (Hugging Face's own), else tokenizer.model.
std::string file_in_folder(const std::string& folder) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    const std::string path = files::join(folder, name);
    if (files::exists(path)) return path;
  }
  VLM_THROW(IoError, "the folder ", folder,
            " has no tokenizer: neither tokenizer.json nor tokenizer.model is in it");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path,
                                          const std::vector<std::string>& added_tokens) {
  VLM_CHECK(files::exists(path), IoError, "tokenizer ", path,
            " not found (give a tokenizer.json, a tokenizer.model or a model folder holding one)");
  std::error_code error;
  const bool folder = std::filesystem::is_directory(path, error);
  const std::string file = folder ? file_in_folder(path) : path;
  if (ends_with(file, ".json")) return load_hf_tokenizer(file, added_tokens);
  return load_sentencepiece(file, added_tokens);
}

}  // namespace vlm::data
