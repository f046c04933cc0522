// vlm-bench-loader: how fast the loader prepares one stage's batches (bench/loader.sh compares
// it with the trainer's step rate). Builds the loader exactly as the trainer does for one rank.
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

#include "apps/main_support.h"
#include "common/error.h"
#include "data/loader.h"
#include "data/run_tokenizer.h"
#include "data/tokenizer.h"
#include "recipes/load.h"
#include "worker/objective_kinds.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What the vision tower gives per image: patch tokens, plus CLIP's class token when it is kept
// (AIMv2 has none).
int64_t image_tokens(const vlm::recipes::VisionConfig& vision) {
  if (vision.type == vlm::recipes::VisionType::kNone) return 0;
  const int64_t side = vision.image_size / vision.patch_size;
  const bool class_token = vision.type == vlm::recipes::VisionType::kClip && !vision.drop_cls;
  return side * side + (class_token ? 1 : 0);
}

vlm::data::LoaderOptions loader_options(const vlm::recipes::Recipe& recipe,
                                        const vlm::recipes::Stage& stage) {
  vlm::data::LoaderOptions options;
  options.data = stage.data;
  options.seed = stage.training.seed;
  options.image_size = recipe.model.vision.image_size;
  options.vision_folder = recipe.model.vision.hf_path;
  options.image_tokens = image_tokens(recipe.model.vision);
  options.batch_size = stage.training.micro_batch_size > 0 ? stage.training.micro_batch_size
                                                           : stage.training.global_batch_size;
  options.global_batch_size = stage.training.global_batch_size;
  return options;
}

int run(int argc, char** argv) {
  std::string recipe_path;
  std::vector<std::string> overrides;
  size_t stage_index = 0;
  int64_t batches = 200;
  int64_t warmup = 5;
  CLI::App app{"Times the loader of one recipe stage: batches/s on one rank."};
  app.add_option("--recipe", recipe_path, "recipe YAML")->required();
  app.add_option("--set", overrides, "key=value override, as vlm-worker takes it");
  app.add_option("--stage", stage_index, "stage number (from 0)");
  app.add_option("--batches", batches, "batches to time");
  app.add_option("--warmup", warmup, "batches read before the clock starts");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }
  const vlm::recipes::Recipe recipe =
      vlm::recipes::load(recipe_path, vlm::worker::objective_kinds(), overrides);
  VLM_CHECK(stage_index < recipe.stages.size(), ConfigError, "--stage ", stage_index,
            ": the recipe has ", recipe.stages.size(), " stages");
  const vlm::recipes::Stage& stage = recipe.stages[stage_index];
  std::shared_ptr<const vlm::data::Tokenizer> tokenizer = vlm::data::load_run_tokenizer(recipe);

  const auto open_start = Clock::now();
  vlm::data::Loader loader(loader_options(recipe, stage), tokenizer);
  const double open_seconds = seconds_since(open_start);
  for (int64_t i = 0; i < warmup; ++i) loader.next();
  int64_t samples = 0;
  const auto start = Clock::now();
  for (int64_t i = 0; i < batches; ++i) samples += loader.next().batch_size;
  const double seconds = seconds_since(start);
  std::cout << "{\"source\": \"" << (stage.data.shards.empty() ? "json" : "shards")
            << "\", \"stage\": \"" << stage.name
            << "\", \"batch_size\": " << stage.training.global_batch_size
            << ", \"loader_threads\": " << stage.data.loader_threads << ", \"batches\": " << batches
            << ", \"seconds\": " << seconds << ", \"batches_per_s\": " << batches / seconds
            << ", \"samples_per_s\": " << samples / seconds
            << ", \"open_seconds\": " << open_seconds
            << ", \"undecodable_samples\": " << loader.stats().undecodable_samples << "}\n";
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, run); }
