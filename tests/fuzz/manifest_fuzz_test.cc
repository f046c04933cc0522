// Checkpoint manifests: mutants of a real manifest's JSON (as to_json writes it).
#include <gtest/gtest.h>

#include "checkpoint/manifest.h"
#include "tests/fuzz/mutator.h"

namespace vlm::fuzz {
namespace {

std::string manifest_seed(int world_size) {
  checkpoint::Manifest manifest;
  manifest.stage_index = 1;
  manifest.stage_name = "finetune";
  manifest.step = 120;
  manifest.global_sample = 3840;
  manifest.optimizer_steps = 120;
  manifest.seed = 42;
  manifest.world_size = world_size;
  manifest.recipe_yaml = "run:\n  seed: 42\n";
  manifest.base_model = "init seed 42";
  state::BufferLayout params{"llm/params", 10, {{"llm.w", 0, 6}, {"llm.b", 6, 4}}};
  state::BufferLayout moments{"llm/exp_avg", 10, {{"llm.w", 0, 6}, {"llm.b", 6, 4}}};
  manifest.buffers = {params, moments};
  const int64_t per_rank = 10 / world_size;
  for (int rank = 0; rank < world_size; ++rank) {
    const int64_t begin = rank * per_rank;
    const int64_t count = rank + 1 == world_size ? 10 - begin : per_rank;
    manifest.files.push_back({"rank-0000" + std::to_string(rank) + ".h5",
                              4096,
                              "crc32:0a1b2c3d",
                              {{"llm/params", begin, count}, {"llm/exp_avg", begin, count}}});
  }
  manifest.counters = {{"skipped_steps", 0.0}, {"tokens", 1.5e6}};
  return checkpoint::to_json(manifest);
}

TEST(ManifestFuzz, MutatedManifestsAreParsedOrRefusedWithAFormatError) {
  std::vector<std::string> dictionary = json_dictionary();
  for (const char* key : {"\"stage_index\"", "\"step\"", "\"files\"", "\"slices\"", "\"buffers\"",
                          "\"begin\"", "\"count\"", "\"total\"", "\"format_version\"",
                          "\"counters\"", "\"../rank-00000.h5\"", "\"/etc/passwd\""}) {
    dictionary.push_back(key);
  }
  const FuzzOutcome outcome =
      run_fuzz("manifest", {manifest_seed(1), manifest_seed(2), manifest_seed(3)}, dictionary,
               [](const std::string& input) { checkpoint::parse_manifest(input, "fuzz"); });
  EXPECT_GE(outcome.accepted, 3);
  EXPECT_GT(outcome.refused, 0);
}

}  // namespace
}  // namespace vlm::fuzz
