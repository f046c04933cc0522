// The manifest: round trip, a message naming the key for each kind of mistake, and random damage
// that must end in a typed error, never a crash.
#include "checkpoint/manifest.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"

namespace vlm::checkpoint {
namespace {

Manifest example() {
  Manifest m;
  m.stage_index = 1;
  m.stage_name = "finetune";
  m.step = 120;
  m.global_sample = 7680;
  m.optimizer_steps = 120;
  m.seed = 18446744073709551615ULL;  // the largest: must survive JSON
  m.world_size = 3;
  m.recipe_yaml = "run_dir: runs/x\nstages:\n  - name: finetune\n";
  m.base_model = "init seed 42";
  const std::vector<state::ParamSpan> layout = {{"llm.layers.0.q.weight", 0, 6},
                                                {"llm.layers.0.q.bias", 6, 4}};
  m.buffers = {{"llm.layers.0/params", 10, layout}, {"llm.layers.0/exp_avg", 10, layout}};
  m.files = {{"rank-00000.h5", 100, "crc32:00000001", {{"llm.layers.0/params", 0, 4}}},
             {"rank-00001.h5",
              90,
              "crc32:00000002",
              {{"llm.layers.0/params", 4, 6}, {"llm.layers.0/exp_avg", 0, 10}}}};
  m.counters = {{"skipped_steps", 2}};
  return m;
}

TEST(Manifest, RoundTripsEveryField) {
  const Manifest m = example();
  const Manifest back = parse_manifest(to_json(m), "test");
  EXPECT_EQ(to_json(back), to_json(m));
  EXPECT_EQ(back.seed, m.seed);
  EXPECT_EQ(back.files[1].slices[1].count, 10);
  EXPECT_EQ(back.counters.at("skipped_steps"), 2.0);
  EXPECT_EQ(back.recipe_yaml, m.recipe_yaml);
}

TEST(Manifest, AFileEntryRoundTripsOnItsOwn) {
  const FileInfo file = example().files[1];
  const FileInfo back = parse_file_info(to_json(file), "rank 1");
  EXPECT_EQ(back.name, file.name);
  EXPECT_EQ(back.bytes, file.bytes);
  EXPECT_EQ(back.checksum, file.checksum);
  ASSERT_EQ(back.slices.size(), 2u);
  EXPECT_EQ(back.slices[1].buffer, "llm.layers.0/exp_avg");
  EXPECT_EQ(back.slices[1].count, 10);
  EXPECT_THROW(
      parse_file_info(R"({"name": "../x", "bytes": 1, "checksum": "", "slices": []})", "rank 1"),
      FormatError);
}

// Replaces `from` by `to` once in the JSON text of the example and expects an error message
// containing `expected`.
void expect_error(const std::string& from, const std::string& to, const std::string& expected) {
  std::string text = to_json(example());
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  try {
    parse_manifest(text, "ckpt/manifest.json");
    FAIL() << "accepted: " << from << " -> " << to;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ckpt/manifest.json"), std::string::npos) << e.what();
  }
}

TEST(Manifest, NamesTheKeyOfEachMistake) {
  expect_error("\"step\": 120", "\"step\": -1", "step: expected a non-negative integer");
  expect_error("\"step\": 120", "\"step\": \"120\"", "step: expected a non-negative integer");
  expect_error("\"format_version\": 1", "\"format_version\": 9", "format_version 9");
  expect_error("\"world_size\": 3", "\"world_size\": 0", "world_size 0");
  expect_error("\"stage_name\": \"finetune\",", "", "stage_name: missing");
  expect_error("\"step\": 120", "\"step\": 120, \"extra\": 1", "extra: unknown key");
  expect_error("\"begin\": 4", "\"begin\": 5", "files[1].slices[0]: elements [5, 11)");
  expect_error("\"buffer\": \"llm.layers.0/exp_avg\"", "\"buffer\": \"nope\"",
               "files[1].slices[1].buffer: 'nope' is not in buffers");
  expect_error("\"rank-00001.h5\"", "\"rank-00000.h5\"", "files[1].name: 'rank-00000.h5'");
  expect_error("\"rank-00001.h5\"", "\"../x.h5\"", "files[1].name: not a plain file name");
  expect_error("\"count\": 10", "\"count\": 10, \"more\": true", "files[1].slices[1].more");
  expect_error("\"offset\": 6", "\"offset\": 7", "buffers[0].params[1].count: parameter");
  EXPECT_THROW(parse_manifest("[1]", "x"), FormatError);
  EXPECT_THROW(parse_manifest("", "x"), FormatError);
}

TEST(Manifest, RandomDamageEndsInATypedError) {
  const std::string good = to_json(example());
  std::mt19937 random(7);
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = good;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = random() % text.size();
      switch (random() % 4) {
        case 0:
          text[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          text.erase(at, 1 + random() % 8);
          break;
        case 2:
          text.resize(at);
          break;
        default:
          text.insert(at, 1, "{}[]\",:0-9e"[random() % 11]);
          break;
      }
    }
    try {
      parse_manifest(text, "fuzz");
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 2500);  // nearly every change breaks it; none may crash
}

}  // namespace
}  // namespace vlm::checkpoint
