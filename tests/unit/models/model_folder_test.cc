// A model built from a Hugging Face folder whose tokenizer has more tokens than its rows (the
// rows grow, as LLaVA's smart_tokenizer_and_embedding_resize), and a model built on the meta
// device (every name and shape, no memory; loading only checks the folder).
#include <gtest/gtest.h>

#include <c10/core/GradMode.h>

#include "common/error.h"
#include "common/files.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/models/test_util.h"

namespace vlm::models {
namespace {

at::Tensor parameter(const VisionLanguageModel& model, const std::string& name) {
  for (const auto& [n, p] : model.named_parameters()) {
    if (n == name) return p;
  }
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

// A small model with 10 token rows saved under dir, and a config whose LLM is that folder.
recipes::ModelSection saved_base(const testing::TempDir& dir, VisionLanguageModel& base) {
  base.save_hf(dir.path());
  recipes::ModelSection config = testkit::small_model();
  config.llm.hf_path = dir.file("llm");
  return config;
}

TEST(ModelFolder, ATokenizerLargerThanTheCheckpointGrowsTheRowsWithTheirMean) {
  testing::TempDir dir;
  VisionLanguageModel base(testkit::small_model(), 10, 1);
  const recipes::ModelSection config = saved_base(dir, base);
  VisionLanguageModel grown(config, 12, 1);
  EXPECT_EQ(grown.vocab_size(), 12);
  EXPECT_EQ(grown.config().llm.vocab_size, 12);
  for (const char* name : {"llm.model.embed_tokens.weight", "llm.lm_head.weight"}) {
    const at::Tensor before = parameter(base, name);
    const at::Tensor after = parameter(grown, name);
    ASSERT_EQ(after.size(0), 12) << name;
    EXPECT_TRUE(at::equal(after.narrow(0, 0, 10), before)) << name;
    const at::Tensor mean = before.mean(0);
    EXPECT_TRUE(at::equal(after[10], mean)) << name;
    EXPECT_TRUE(at::equal(after[11], mean)) << name;
  }
  // The old tokens' logits are the checkpoint's; the export says 12 rows.
  at::Tensor ids = at::arange(10, at::kLong).view({1, 10});
  c10::NoGradGuard no_grad;
  ModelInputs inputs;
  inputs.input_ids = ids;
  const at::Tensor old_logits = base.forward(inputs).logits;
  const at::Tensor new_logits = grown.forward(inputs).logits;
  EXPECT_TRUE(at::allclose(new_logits.narrow(2, 0, 10), old_logits));
  grown.save_hf(dir.file("grown"));
  EXPECT_NE(files::read_all(dir.file("grown/llm/config.json")).find("\"vocab_size\": 12"),
            std::string::npos);
  EXPECT_EQ(SafetensorsReader(dir.file("grown/llm/model.safetensors"))
                .find("model.embed_tokens.weight")
                ->shape[0],
            12);
  // A smaller tokenizer keeps the checkpoint's rows (Qwen2.5's 151,665 tokens in 152,064 rows).
  EXPECT_EQ(VisionLanguageModel(config, 7, 1).vocab_size(), 10);
}

TEST(ModelFolder, TheMetaDeviceGivesEveryShapeWithoutMemory) {
  recipes::ModelSection config = testkit::small_model();
  const VisionLanguageModel real(config, 10, 1);
  VisionLanguageModel meta(config, 10, 1, at::kMeta);
  const auto real_params = real.named_parameters();
  const auto meta_params = meta.named_parameters();
  ASSERT_EQ(real_params.size(), meta_params.size());
  for (size_t i = 0; i < real_params.size(); ++i) {
    EXPECT_EQ(real_params[i].first, meta_params[i].first);
    EXPECT_EQ(real_params[i].second.sizes(), meta_params[i].second.sizes());
    EXPECT_TRUE(meta_params[i].second.is_meta()) << meta_params[i].first;
  }
  EXPECT_EQ(meta.sharding_units().size(), real.sharding_units().size());
  // Structural steps work on shapes too.
  recipes::LoraConfig lora;
  lora.rank = 4;
  meta.add_lora(lora, 1);
  meta.set_trainable({"lora"});
  for (const auto& [name, param] : meta.named_parameters()) EXPECT_TRUE(param.is_meta()) << name;
}

TEST(ModelFolder, AMetaModelReadsOnlyTheConfigAndLoadingChecksTheHeaders) {
  testing::TempDir dir;
  VisionLanguageModel base(testkit::small_model(), 10, 1);
  recipes::ModelSection config = saved_base(dir, base);
  config.llm.hidden_size = 64;  // the folder's config.json decides
  VisionLanguageModel meta(config, 0, 1, at::kMeta);
  EXPECT_EQ(meta.config().llm.hidden_size, 32);
  EXPECT_EQ(meta.vocab_size(), 10);
  meta.load_hf("llm", dir.file("llm"));  // names and shapes fit: nothing is read
  EXPECT_TRUE(parameter(meta, "llm.lm_head.weight").is_meta());
  // A folder whose weights do not fit is named, with the misshapen tensor.
  recipes::ModelSection wider = testkit::small_model();
  wider.llm.intermediate_size = 64;
  VisionLanguageModel other(wider, 10, 2);
  other.save_hf(dir.file("other"));
  files::write_atomically(dir.file("other/llm/config.json"),
                          files::read_all(dir.file("llm/config.json")));
  try {
    meta.load_hf("llm", dir.file("other/llm"));
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("mlp.up_proj.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vlm::models
