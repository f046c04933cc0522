// vlm-ckpt: a run's checkpoints. list (steps, sizes, status), verify (checksums, completeness;
// non-zero exit when anything is wrong), export --hf OUT (the whole model, LoRA merged).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "apps/main_support.h"
#include "checkpoint/store.h"
#include "common/error.h"
#include "common/files.h"
#include "recipes/load.h"
#include "worker/checkpoint_export.h"
#include "worker/objective_kinds.h"

namespace {

using vlm::checkpoint::CheckpointStore;

// A checkpoint holds rank files (its manifest may be the part that is missing).
bool is_checkpoint(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == vlm::checkpoint::kManifestName || name.rfind("rank-", 0) == 0) return true;
  }
  return false;
}

// A run directory, its checkpoints folder, or one checkpoint -> (folder of checkpoints, tag or
// "" for all of them).
std::pair<std::string, std::string> locate(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/"
  if (is_checkpoint(p)) return {vlm::files::parent(p.string()), p.filename().string()};
  if (std::filesystem::is_directory(p / "checkpoints")) return {(p / "checkpoints").string(), ""};
  return {p.string(), ""};
}

// A manifest's stage must be a stage of the recipe it carries (recipe_yaml, the run's resolved
// recipe), by number and name, as a resumed run checks it against its own recipe
// (worker::Checkpointer::matches_recipe). Without it, a manifest whose stage_index was past the
// recipe's stages verified ok. A recipe copy this build cannot load is left to export to report.
std::string stage_of_own_recipe(const vlm::checkpoint::Manifest& m) {
  if (m.recipe_yaml.empty()) return {};
  vlm::recipes::Recipe recipe;
  try {
    recipe = vlm::recipes::load_text(m.recipe_yaml, "the manifest's recipe_yaml",
                                     vlm::worker::objective_kinds());
  } catch (const vlm::Error&) {
    return {};
  }
  if (m.stage_index >= static_cast<int64_t>(recipe.stages.size())) {
    return fmt::format("manifest.json: stage_index {} but its recipe has {} stage(s)",
                       m.stage_index, recipe.stages.size());
  }
  const std::string& name = recipe.stages[static_cast<size_t>(m.stage_index)].name;
  if (m.stage_name != name) {
    return fmt::format("manifest.json: stage {} is '{}' but '{}' in its recipe", m.stage_index,
                       m.stage_name, name);
  }
  return {};
}

int list(const std::string& path) {
  const auto [root, tag] = locate(path);
  const CheckpointStore store(root);
  std::cout << fmt::format("{:<24} {:<10} {:>6} {:>8} {:>10}  {}\n", "checkpoint", "status",
                           "stage", "step", "MiB", "problem");
  for (const auto& entry : store.list()) {
    if (!tag.empty() && entry.tag != tag) continue;
    std::string status = entry.committed ? "ok" : "staging";
    std::string problem;
    if (entry.committed) {
      const auto check = store.verify(entry.tag, stage_of_own_recipe);
      if (!check.ok) {
        status = "damaged";
        problem = check.problems.front();
      }
    }
    std::cout << fmt::format("{:<24} {:<10} {:>6} {:>8} {:>10.1f}  {}\n", entry.tag, status,
                             entry.stage_index, entry.step,
                             static_cast<double>(entry.bytes) / (1 << 20), problem);
  }
  return vlm::apps::kExitOk;
}

int verify(const std::string& path) {
  const auto [root, tag] = locate(path);
  const CheckpointStore store(root);
  std::vector<std::string> tags;
  if (!tag.empty()) {
    tags.push_back(tag);
  } else {
    for (const auto& entry : store.list()) {
      if (entry.committed) tags.push_back(entry.tag);
    }
  }
  if (tags.empty()) {
    std::cerr << "vlm-ckpt: no committed checkpoint under " << root << "\n";
    return vlm::apps::kExitError;
  }
  bool all_ok = true;
  for (const auto& t : tags) {
    const auto check = store.verify(t, stage_of_own_recipe);
    std::cout << (check.ok ? "ok      " : "DAMAGED ") << store.committed_dir(t) << "\n";
    for (const auto& problem : check.problems) std::cout << "  " << problem << "\n";
    all_ok = all_ok && check.ok;
  }
  return all_ok ? vlm::apps::kExitOk : vlm::apps::kExitError;
}

int ckpt_main(int argc, char** argv) {
  CLI::App app{"vlm-ckpt: list, verify and export a run's checkpoints"};
  app.require_subcommand(1);
  std::string path, out;
  auto* list_cmd = app.add_subcommand("list", "checkpoints with stage, step, size and status");
  list_cmd->add_option("path", path, "run directory, its checkpoints folder, or a checkpoint")
      ->required();
  auto* verify_cmd = app.add_subcommand(
      "verify", "check sizes and checksums of every file; exit 1 when anything is wrong");
  verify_cmd->add_option("path", path, "a checkpoint, or a folder of them (all committed)")
      ->required();
  auto* export_cmd = app.add_subcommand("export", "write the whole model (HF layout, LoRA merged)");
  export_cmd->add_option("--hf", out, "output folder")->required();
  export_cmd->add_option("path", path, "a committed checkpoint")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (list_cmd->parsed()) return list(path);
  if (verify_cmd->parsed()) return verify(path);
  const auto comm = vlm::cluster::open_communicator();
  vlm::worker::export_checkpoint(path, out, *comm);
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, ckpt_main); }
