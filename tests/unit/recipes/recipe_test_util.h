// Shared by the recipes tests: a small two-stage recipe whose line numbers the message tests
// quote, and helpers to edit it and to catch the ConfigError a load throws.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "recipes/load.h"
#include "worker/objective_kinds.h"

namespace vlm::recipes::testing {

// Line numbers (1-based) matter: the error tests quote them.
inline const char* const kTwoStage =
    "run_dir: runs/test\n"               // 1
    "model:\n"                           // 2
    "  preset: tiny\n"                   // 3
    "data:\n"                            // 4
    "  corpus_dir: corpus/tiny\n"        // 5
    "  json: captions.json\n"            // 6
    "optimizer:\n"                       // 7
    "  lr: 1.0e-3\n"                     // 8
    "  weight_decay: 0.1\n"              // 9
    "training:\n"                        // 10
    "  max_steps: 0\n"                   // 11
    "stages:\n"                          // 12
    "  - name: pretrain\n"               // 13
    "    trainable: [projector]\n"       // 14
    "  - name: finetune\n"               // 15
    "    trainable: [projector, llm]\n"  // 16
    "    data: {template: vicuna_v1}\n"  // 17
    "    optimizer: {lr: 2.0e-5}\n"      // 18
    "    training:\n"                    // 19
    "      max_steps: 7\n";              // 20

inline const char* const kSource = "x.yaml";

// `text` with its one occurrence of `from` replaced by `to`.
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) {
    ADD_FAILURE() << "'" << from << "' is not in the text";
    return text;
  }
  return text.replace(at, from.size(), to);
}

// The message of the ConfigError `action` throws ("" and a test failure when it throws none).
inline std::string config_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

// load() and load_text() with every recipe kind, as the tools call them.
inline Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {}) {
  return load(path, worker::objective_kinds(), overrides);
}
inline Recipe load_recipe_text(const std::string& yaml, const std::string& source_name,
                               const std::vector<std::string>& overrides = {}) {
  return load_text(yaml, source_name, worker::objective_kinds(), overrides);
}

inline std::string repo_path(const std::string& relative) {
  return std::string(VLM_SOURCE_DIR) + "/" + relative;
}

}  // namespace vlm::recipes::testing
