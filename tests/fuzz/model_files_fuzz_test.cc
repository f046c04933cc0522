// A model folder's files: config.json (mutants of the real configs in tests/fixtures, read as an
// LLM's and as a vision tower's) and the safetensors header (mutants of well-formed files).
#include <gtest/gtest.h>

#include <cstring>

#include "common/error.h"
#include "common/files.h"
#include "models/hf_config.h"
#include "models/safetensors_header.h"
#include "tests/fuzz/mutator.h"

namespace vlm::fuzz {
namespace {

std::string fixture(const std::string& relative) {
  return files::read_all(std::string(VLM_SOURCE_DIR) + "/tests/fixtures/" + relative);
}

TEST(ModelFilesFuzz, MutatedConfigsAreReadOrRefusedWithATypedError) {
  const std::vector<std::string> seeds = {fixture("lmsys/vicuna-7b-v1.5/config.json"),
                                          fixture("Qwen/Qwen2.5-7B-Instruct/config.json"),
                                          fixture("openai/clip-vit-large-patch14-336/config.json"),
                                          fixture("apple/aimv2-huge-patch14-448/config.json")};
  std::vector<std::string> dictionary = json_dictionary();
  for (const char* key :
       {"\"hidden_size\"", "\"num_attention_heads\"", "\"num_key_value_heads\"", "\"vocab_size\"",
        "\"model_type\"", "\"vision_config\"", "\"rope_scaling\"", "\"image_size\"",
        "\"patch_size\"", "\"llama\"", "\"clip_vision_model\"", "\"aimv2\""}) {
    dictionary.push_back(key);
  }
  const FuzzOutcome outcome = run_fuzz("hf_config", seeds, dictionary, [](const std::string& in) {
    bool llm = true, vision = true;
    try {
      models::llm_config_from_hf_text(in, "config.json", recipes::LlmConfig{});
    } catch (const Error&) {
      llm = false;
    }
    try {
      models::vision_config_from_hf_text(in, "config.json", recipes::VisionConfig{});
    } catch (const Error&) {
      vision = false;
    }
    if (!llm && !vision) models::vision_config_from_hf_text(in, "config.json", {});  // refusal
  });
  EXPECT_GE(outcome.accepted, 4);
  EXPECT_GT(outcome.refused, 0);
}

std::string safetensors_file(const std::string& header, size_t data_bytes) {
  std::string padded = header;
  padded.resize((padded.size() + 7) / 8 * 8, ' ');
  std::string file(8, '\0');
  uint64_t length = padded.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return file + padded + std::string(data_bytes, '\0');
}

void parse_safetensors(const std::string& file) {
  uint8_t prefix[8] = {};
  std::memcpy(prefix, file.data(), std::min<size_t>(8, file.size()));
  const uint64_t length = models::safetensors_header_length(prefix, file.size(), "fuzz");
  models::parse_safetensors_header(file.substr(8, length), file.size() - 8 - length, "fuzz");
}

TEST(ModelFilesFuzz, MutatedSafetensorsHeadersAreReadOrRefusedWithAFormatError) {
  const std::vector<std::string> seeds = {
      safetensors_file(
          R"({"__metadata__":{"format":"pt"},"model.embed_tokens.weight":{"dtype":"BF16","shape":[4,3],"data_offsets":[0,24]},"model.norm.weight":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}})",
          36),
      safetensors_file(
          R"({"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[0,5],"data_offsets":[8,8]},"c":{"dtype":"F16","shape":[2,1,2],"data_offsets":[8,16]}})",
          16)};
  std::vector<std::string> dictionary = json_dictionary();
  for (const char* key :
       {"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"BF16\"",
        "\"I64\"", "\"U8\"", "\xff\xff\xff\xff\xff\xff\xff\xff"}) {
    dictionary.push_back(key);
  }
  const FuzzOutcome outcome = run_fuzz("safetensors_header", seeds, dictionary, parse_safetensors);
  EXPECT_GE(outcome.accepted, 2);
  EXPECT_GT(outcome.refused, 0);
}

}  // namespace
}  // namespace vlm::fuzz
