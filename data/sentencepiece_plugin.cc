// load_sentencepiece and train_sentencepiece, through a plugin.
//
// Why a plugin: Debian's libsentencepiece carries its own copy of protobuf 3.14, while LibTorch
// links the system's libprotobuf 3.21. Linked into one program, the two copies' symbols
// interpose and the program crashes before main. The plugin (data/sentencepiece/) links
// SentencePiece alone and is opened with RTLD_LOCAL | RTLD_DEEPBIND, so each copy binds to itself.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "data/tokenizer.h"

namespace vlm::data {
namespace {

using LoadFn = Tokenizer* (*)(const std::string&, const std::vector<std::string>&);
using TrainFn = void (*)(const std::vector<std::string>&, const std::string&, int,
                         const std::vector<std::string>&, bool);

struct Plugin {
  LoadFn load = nullptr;
  TrainFn train = nullptr;
};

std::string executable_dir() {
  char buffer[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  return n > 0 ? files::parent(std::string(buffer, static_cast<size_t>(n))) : ".";
}

// VLM_SENTENCEPIECE_PLUGIN, then the build tree's copy, then lib/ beside the program's bin/.
std::string plugin_path() {
  if (const char* path = std::getenv("VLM_SENTENCEPIECE_PLUGIN")) return path;
  if (files::exists(VLM_SENTENCEPIECE_PLUGIN_PATH)) return VLM_SENTENCEPIECE_PLUGIN_PATH;
  return executable_dir() + "/../lib/libvlm_sentencepiece.so";
}

Plugin open_plugin() {
  const std::string path = plugin_path();
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifndef VLM_SANITIZED_BUILD
  flags |= RTLD_DEEPBIND;  // AddressSanitizer refuses DEEPBIND; its test programs have no torch
#endif
  void* handle = ::dlopen(path.c_str(), flags);
  VLM_CHECK(handle != nullptr, IoError, "cannot load the SentencePiece plugin ", path, ": ",
            ::dlerror(), " (set VLM_SENTENCEPIECE_PLUGIN to its path)");
  Plugin plugin;
  plugin.load = reinterpret_cast<LoadFn>(::dlsym(handle, "vlm_sentencepiece_load"));
  plugin.train = reinterpret_cast<TrainFn>(::dlsym(handle, "vlm_sentencepiece_train"));
  VLM_CHECK(plugin.load && plugin.train, IoError, path,
            " is not the vlmtrain SentencePiece plugin");
  return plugin;
}

const Plugin& plugin() {
  static std::once_flag once;
  static Plugin instance;
  std::call_once(once, [] { instance = open_plugin(); });
  return instance;
}

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path,
                                              const std::vector<std::string>& added_tokens) {
  return std::unique_ptr<Tokenizer>(plugin().load(model_path, added_tokens));
}

void train_sentencepiece(const std::vector<std::string>& lines, const std::string& model_prefix,
                         int vocab_size, const std::vector<std::string>& user_symbols,
                         bool byte_fallback) {
  plugin().train(lines, model_prefix, vocab_size, user_symbols, byte_fallback);
}

}  // namespace vlm::data
