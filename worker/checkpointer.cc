#include "worker/checkpointer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "checkpoint/save.h"
#include "checkpoint/store.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"

namespace vlm::worker {

namespace {

// The checksum of a HF folder's weight files, in name order.
std::string folder_checksum(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().string());
  }
  std::sort(names.begin(), names.end());
  files::Checksum sum;
  for (const auto& name : names) sum.update(files::checksum_file(name));
  return sum.text();
}

// How the parameters a checkpoint does not hold (frozen ones) are made again.
std::string base_model_description(const recipes::Recipe& recipe) {
  std::string out = fmt::format("init seed {}", recipe.stages.front().training.seed);
  for (const auto& [part, path] : {std::pair{"llm", recipe.model.llm.hf_path},
                                   std::pair{"vision", recipe.model.vision.hf_path}}) {
    if (!path.empty()) out += fmt::format("; {} {} {}", part, path, folder_checksum(path));
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += (out.empty() ? "" : "; ") + line;
  return out;
}

// Errors found on rank 0 only travel to the others in the broadcast answer.
constexpr char kErrorMark = '\x01';

}  // namespace

Checkpointer::Checkpointer(const recipes::Recipe& recipe, const checkpoint::RunLayout& layout,
                           cluster::Communicator& comm, std::string resume_path,
                           monitor::RunObserver* observer)
    : recipe_(recipe),
      comm_(comm),
      root_(layout.checkpoints()),
      resume_path_(std::move(resume_path)),
      observer_(observer) {}

Checkpointer::~Checkpointer() = default;

// A checkpoint's stage must be this recipe's stage of that number, by name.
checkpoint::CheckpointStore::ManifestCheck Checkpointer::matches_recipe() const {
  return [this](const checkpoint::Manifest& m) -> std::string {
    const auto& stages = recipe_.stages;
    if (m.stage_index >= static_cast<int64_t>(stages.size())) {
      return fmt::format("stage_index {} but the recipe has {} stage(s)", m.stage_index,
                         stages.size());
    }
    const std::string& name = stages[static_cast<size_t>(m.stage_index)].name;
    if (m.stage_name != name) {
      return fmt::format("stage {} is '{}' in the checkpoint but '{}' in the recipe", m.stage_index,
                         m.stage_name, name);
    }
    return {};
  };
}

std::optional<ResumePoint> Checkpointer::find_resume() {
  std::string chosen;
  if (comm_.rank() == 0) {
    try {
      if (!resume_path_.empty()) {
        std::filesystem::path dir = std::filesystem::path(resume_path_).lexically_normal();
        if (!dir.has_filename()) dir = dir.parent_path();  // "dir/"
        const std::string path = dir.string();
        const checkpoint::CheckpointStore store(files::parent(path));
        const checkpoint::Verification check =
            store.verify(dir.filename().string(), matches_recipe());
        VLM_CHECK(check.ok, ConfigError, "--resume ", resume_path_,
                  " is not a usable checkpoint: ", join_lines(check.problems));
        chosen = path;
      } else if (files::exists(root_)) {
        const checkpoint::CheckpointStore store(root_);
        std::vector<std::string> skipped;
        const std::optional<std::string> tag = store.newest_valid(&skipped, matches_recipe());
        for (const auto& why : skipped) log::warn("checkpoint skipped: {}", why);
        if (tag) chosen = store.committed_dir(*tag);
      }
    } catch (const Error& e) {
      chosen = kErrorMark + std::string(e.what());
    }
  }
  comm_.broadcast(chosen, 0);
  VLM_CHECK(chosen.empty() || chosen[0] != kErrorMark, ConfigError, chosen.substr(1));
  if (chosen.empty()) return std::nullopt;
  ResumePoint point{chosen,
                    checkpoint::read_manifest(files::join(chosen, checkpoint::kManifestName))};
  const std::string base = base_model_description(recipe_);
  VLM_CHECK(point.manifest.base_model == base, ConfigError, "checkpoint ", chosen,
            " was made from base model '", point.manifest.base_model, "' but this run's is '", base,
            "': its frozen parameters would differ");
  if (comm_.rank() == 0) {
    log::info("resuming from {} (stage '{}' step {}, written by {} rank(s))", chosen,
              point.manifest.stage_name, point.manifest.step, point.manifest.world_size);
    tell_committed(chosen, point.manifest);
  }
  return point;
}

namespace {

std::string describe(const std::vector<state::ParamSpan>& params, size_t i) {
  if (i >= params.size()) return "nothing";
  return fmt::format("{} at [{}, {})", params[i].name, params[i].offset,
                     params[i].offset + params[i].count);
}

// The checkpoint's unit layout must be the model's, parameter by parameter.
void check_layout(const ResumePoint& from, const std::vector<state::BufferLayout>& model) {
  const auto& saved = from.manifest.buffers;
  VLM_CHECK(saved.size() == model.size(), ShapeError, "checkpoint ", from.dir, " holds ",
            saved.size(), " buffers, this stage's model trains ", model.size(),
            ": was it written for another recipe?");
  for (size_t b = 0; b < model.size(); ++b) {
    const auto& want = model[b];
    const auto& got = saved[b];
    VLM_CHECK(got.name == want.name && got.total == want.total, ShapeError, "checkpoint ", from.dir,
              " does not fit this model: buffer ", b, " is ", want.name, " of ", want.total,
              " elements here and ", got.name, " of ", got.total, " saved");
    for (size_t i = 0; i < std::max(want.params.size(), got.params.size()); ++i) {
      const bool same = i < want.params.size() && i < got.params.size() &&
                        want.params[i].name == got.params[i].name &&
                        want.params[i].offset == got.params[i].offset &&
                        want.params[i].count == got.params[i].count;
      VLM_CHECK(same, ShapeError, "checkpoint ", from.dir, " does not fit this model: in ",
                want.name, " the model has ", describe(want.params, i), ", the checkpoint ",
                describe(got.params, i));
    }
  }
}

}  // namespace

void Checkpointer::load(const ResumePoint& from, sharding::ShardedEngine& engine) const {
  check_layout(from, engine.buffer_layout());
  engine.load_state(
      [&from](const std::string& buffer, int64_t begin, int64_t count) {
        return checkpoint::read_buffer_range(from.dir, from.manifest, buffer, begin, count);
      },
      from.manifest.optimizer_steps);
}

double Checkpointer::save(const sharding::ShardedEngine& engine, const SavePoint& at, bool wait) {
  finish();  // one save at a time
  const auto start = std::chrono::steady_clock::now();
  const checkpoint::CheckpointStore store(root_);
  const std::string tag = checkpoint::CheckpointStore::tag_for(at.stage_index, at.step);
  checkpoint::prepare_save(store, tag, comm_);

  checkpoint::Manifest m;
  m.stage_index = at.stage_index;
  m.stage_name = at.stage_name;
  m.step = at.step;
  m.global_sample = at.global_sample;
  m.optimizer_steps = engine.optimizer_steps();
  m.seed = at.stage_seed;
  m.world_size = comm_.size();
  m.recipe_yaml = recipe_.resolved_yaml;
  m.base_model = base_model_description(recipe_);
  m.counters = at.counters;
  m.buffers = engine.buffer_layout();
  // A save the loop waits for is written from the live state; one written while training goes
  // on needs its copy.
  const bool background = !wait && recipe_.checkpoint.async;
  std::vector<state::FlatSlice> slices;
  for (auto& slice : engine.snapshot_state(/*copy=*/background)) {
    if (slice.values.numel() > 0) slices.push_back(std::move(slice));
  }
  const double blocked_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  pending_ = std::make_unique<checkpoint::PendingSave>(store, tag, std::move(m), std::move(slices),
                                                       comm_, blocked_ms / 1000.0);
  if (!background) commit(/*wait=*/true);
  return blocked_ms;
}

void Checkpointer::poll() {
  if (pending_) commit(/*wait=*/false);
}

void Checkpointer::finish() {
  if (pending_) commit(/*wait=*/true);
}

void Checkpointer::tell_committed(const std::string& dir,
                                  const checkpoint::Manifest& manifest) const {
  if (observer_ != nullptr)
    observer_->checkpoint_committed({dir, manifest.stage_name, manifest.step});
}

void Checkpointer::commit(bool wait) {
  bool committed = false;
  try {
    committed = pending_->try_commit(wait, recipe_.checkpoint.keep_last);
  } catch (const Error&) {
    pending_.reset();
    throw;
  }
  if (!committed) return;  // not yet: the next boundary
  if (comm_.rank() == 0) {
    const checkpoint::Manifest& manifest = pending_->committed();
    int64_t bytes = 0;
    for (const auto& f : manifest.files) bytes += f.bytes;
    log::info("checkpoint {} committed: stage '{}' step {}, {:.1f} MiB", pending_->committed_dir(),
              manifest.stage_name, manifest.step, static_cast<double>(bytes) / (1 << 20));
    tell_committed(pending_->committed_dir(), manifest);
  }
  pending_.reset();
}

}  // namespace vlm::worker
