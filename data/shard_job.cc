#include "data/shard_job.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>

#include "common/files.h"
#include "common/log.h"
#include "data/image_root.h"
#include "data/record_check.h"
#include "data/record_stream.h"
#include "data/shard_reader.h"
#include "data/shard_writer.h"

namespace vlm::data {
namespace {

using Json = nlohmann::ordered_json;

// An error caught on one rank, carried to rank 0 as text and thrown there with its kind.
struct Failure {
  std::string kind;  // config | io | format | other
  std::string message;
};

Failure describe_current_exception() {
  try {
    throw;
  } catch (const ConfigError& e) {
    return {"config", e.what()};
  } catch (const IoError& e) {
    return {"io", e.describe()};
  } catch (const FormatError& e) {
    return {"format", e.describe()};
  } catch (const Error& e) {
    return {"other", e.describe()};
  } catch (const std::exception& e) {
    return {"other", e.what()};
  }
}

[[noreturn]] void throw_failure(const Failure& failure) {
  if (failure.kind == "config") VLM_THROW(ConfigError, failure.message);
  if (failure.kind == "io") VLM_THROW(IoError, failure.message);
  if (failure.kind == "format") VLM_THROW(FormatError, failure.message);
  VLM_THROW(Error, failure.message);
}

// Test hook (tests/e2e/test_shard_resume.sh): a rank sends itself SIGKILL halfway through the
// shard after it has written this many, leaving a partial .tmp file as a real kill would.
int64_t test_kill_after() {
  const char* value = std::getenv("VLM_SHARD_TEST_KILL_AFTER");
  return value == nullptr || *value == '\0' ? -1 : std::atoll(value);
}

// Image roots open on first use: a text-only source needs none.
class ImageRoots {
 public:
  ImageRoots(const ShardPlan& plan, const data::ImageLimits& limits, data::ImageLinks links)
      : plan_(plan), limits_(limits), links_(links) {}
  const data::ImageRoot& of(int64_t source) {
    auto& root = roots_[source];
    if (!root) {
      const std::string& dir = plan_.sources.at(static_cast<size_t>(source)).image_root;
      VLM_CHECK(std::filesystem::is_directory(dir), ConfigError, "image root ", dir, " of source '",
                plan_.sources[static_cast<size_t>(source)].name, "' is not a directory");
      root = std::make_unique<data::ImageRoot>(dir, limits_, links_);
    }
    return *root;
  }

 private:
  const ShardPlan& plan_;
  const data::ImageLimits limits_;
  const data::ImageLinks links_;
  std::map<int64_t, std::unique_ptr<data::ImageRoot>> roots_;
};

struct Context {
  const ShardPlan& plan;
  const ShardJobOptions& options;
  ImageRoots roots;
  int64_t kill_after = -1;
  int64_t written = 0;
  int64_t kept = 0;
};

std::string shard_path(const Context& context, int64_t shard) {
  return files::join(context.options.out_dir, data::shard_file_name(shard));
}

data::ShardEntry planned_entry(const ShardPlan& plan, int64_t shard) {
  const PlannedShard& planned = plan.shards[static_cast<size_t>(shard)];
  data::ShardEntry entry;
  entry.file = data::shard_file_name(shard);
  entry.source = plan.sources[static_cast<size_t>(planned.source)].name;
  entry.first_record = planned.first_record;
  entry.records = planned.record_count;
  return entry;
}

void add_file_identity(data::ShardEntry& entry, const std::string& path) {
  entry.bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  entry.checksum = files::checksum_file(path);
}

// A finished shard from an earlier run, if it is the one the plan asks for.
std::optional<data::ShardEntry> kept_shard(const Context& context, int64_t shard) {
  const std::string path = shard_path(context, shard);
  if (!files::exists(path)) return std::nullopt;
  try {
    const data::ShardReader reader(path);
    if (!(reader.header() == planned_header(context.plan, shard))) return std::nullopt;
    data::ShardEntry entry = planned_entry(context.plan, shard);
    entry.samples = reader.size();
    for (const int32_t count : reader.image_counts()) {
      entry.images += count;
      entry.image_samples += count > 0 ? 1 : 0;
    }
    for (const auto& skipped : reader.skipped()) ++entry.skips[skipped.reason];
    add_file_identity(entry, path);
    return entry;
  } catch (const Error& e) {
    log::warn("rewriting {}: {}", path, e.what());
    return std::nullopt;
  }
}

[[noreturn]] void strict_failure(const data::SourceEntry& source, int64_t record,
                                 const data::SkippedRecord& skipped) {
  VLM_THROW(FormatError, source.path, ": record ", record,
            skipped.id.empty() ? "" : " (id " + skipped.id + ")", " is unusable (",
            data::skip_reason_name(skipped.reason), ": ", skipped.detail, ") and --strict is set");
}

// Validates one record; true with sample filled, or false with skipped filled.
bool read_sample(Context& context, int64_t source, int64_t record, const std::string& text,
                 data::ShardSample& sample, data::SkippedRecord& skipped) {
  data::RecordCheck check = data::check_record(text);
  if (!check.skip && !check.image_paths.empty()) {
    check.skip =
        data::load_images(context.roots.of(source), check.image_paths, sample.images, check.detail);
  }
  if (check.skip) {
    skipped = {record, check.id, *check.skip, check.detail};
    return false;
  }
  if (check.image_paths.empty()) sample.images.clear();
  sample.record_index = record;
  sample.id = std::move(check.id);
  sample.record_json = text;
  sample.text_length = check.text_length;
  return true;
}

data::ShardEntry write_shard(Context& context, int64_t shard) {
  const PlannedShard& planned = context.plan.shards[static_cast<size_t>(shard)];
  const data::SourceEntry& source = context.plan.sources[static_cast<size_t>(planned.source)];
  const std::string path = shard_path(context, shard);
  data::ShardEntry entry = planned_entry(context.plan, shard);
  data::RecordStream stream(source.path, data::corpus_format_of(source.path), planned.start_offset);
  stream.set_max_record_bytes(static_cast<uint64_t>(context.options.max_record_bytes));
  data::ShardWriter writer(path, planned_header(context.plan, shard));
  std::string text;
  uint64_t offset = 0;
  data::ShardSample sample;
  data::SkippedRecord skipped;
  for (int64_t i = 0; i < planned.record_count; ++i) {
    if (context.kill_after == context.written && i == planned.record_count / 2) {
      std::raise(SIGKILL);
    }
    const int64_t record = planned.first_record + i;
    VLM_CHECK(stream.next(text, offset), IoError, source.path, " ended before record ", record,
              ": the file changed while it was being sharded");
    const bool fits =
        stream.last_record_bytes() <= static_cast<uint64_t>(context.options.max_record_bytes);
    if (!fits) {
      skipped = {record, "", data::SkipReason::kOversizedRecord,
                 std::to_string(stream.last_record_bytes()) + " bytes, over --max-record-bytes (" +
                     std::to_string(context.options.max_record_bytes) + ")"};
    }
    if (fits && read_sample(context, planned.source, record, text, sample, skipped)) {
      writer.add(sample);
      ++entry.samples;
      entry.images += static_cast<int64_t>(sample.images.size());
      entry.image_samples += sample.images.empty() ? 0 : 1;
    } else {
      if (context.options.strict) strict_failure(source, record, skipped);
      writer.add_skipped(skipped);
      ++entry.skips[skipped.reason];
    }
  }
  writer.finish();
  add_file_identity(entry, path);
  return entry;
}

// What one rank did: its shards' entries (with their global numbers) or why it stopped.
struct RankOutcome {
  std::vector<std::pair<int64_t, data::ShardEntry>> shards;
  int64_t written = 0;
  int64_t kept = 0;
  std::optional<Failure> failure;
};

Json counts_json(const data::SkipCounts& skips) {
  Json counts = Json::array();
  for (const int64_t count : skips.by_reason) counts.push_back(count);
  return counts;
}

std::string outcome_to_json(const RankOutcome& outcome) {
  Json json;
  json["written"] = outcome.written;
  json["kept"] = outcome.kept;
  if (outcome.failure) {
    json["failure"] = Json{{"kind", outcome.failure->kind}, {"message", outcome.failure->message}};
  }
  json["shards"] = Json::array();
  for (const auto& [k, e] : outcome.shards) {
    json["shards"].push_back(Json::array(
        {k, e.samples, e.images, e.image_samples, counts_json(e.skips), e.bytes, e.checksum}));
  }
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);  // a message may quote input
}

RankOutcome outcome_from_json(const std::string& text, const ShardPlan& plan) {
  const Json json = Json::parse(text);
  RankOutcome outcome;
  outcome.written = json.at("written").get<int64_t>();
  outcome.kept = json.at("kept").get<int64_t>();
  if (json.contains("failure")) {
    outcome.failure = Failure{json["failure"].at("kind").get<std::string>(),
                              json["failure"].at("message").get<std::string>()};
  }
  for (const auto& row : json.at("shards")) {
    const int64_t k = row.at(0).get<int64_t>();
    data::ShardEntry entry = planned_entry(plan, k);
    entry.samples = row.at(1).get<int64_t>();
    entry.images = row.at(2).get<int64_t>();
    entry.image_samples = row.at(3).get<int64_t>();
    for (size_t r = 0; r < entry.skips.by_reason.size(); ++r) {
      entry.skips.by_reason[r] = row.at(4).at(r).get<int64_t>();
    }
    entry.bytes = row.at(5).get<int64_t>();
    entry.checksum = row.at(6).get<std::string>();
    outcome.shards.emplace_back(k, std::move(entry));
  }
  return outcome;
}

RankOutcome write_my_shards(const ShardPlan& plan, const ShardJobOptions& options, int rank,
                            int size) {
  Context context{plan, options, ImageRoots(plan, options.image_limits, options.image_links),
                  test_kill_after()};
  RankOutcome outcome;
  try {
    const auto count = static_cast<int64_t>(plan.shards.size());
    for (int64_t k = rank; k < count; k += size) {
      if (auto entry = kept_shard(context, k)) {
        ++context.kept;
        outcome.shards.emplace_back(k, std::move(*entry));
        continue;
      }
      outcome.shards.emplace_back(k, write_shard(context, k));
      ++context.written;
    }
  } catch (...) {
    outcome.failure = describe_current_exception();
  }
  outcome.written = context.written;
  outcome.kept = context.kept;
  return outcome;
}

// Before any rank writes: no index that could describe a half-made folder, no leftovers.
void remove_stale_files(const std::string& out_dir, int64_t shard_count) {
  static const std::regex shard_name(R"(shard-(\d+)\.h5(\.tmp)?)");
  for (const char* name : {data::kShardIndexFile, data::kSkippedListFile}) {
    std::filesystem::remove(files::join(out_dir, name));
  }
  for (const auto& item : std::filesystem::directory_iterator(out_dir)) {
    const std::string name = item.path().filename().string();
    std::smatch match;
    if (!std::regex_match(name, match, shard_name)) continue;
    if (match[2].matched || std::stoll(match[1].str()) >= shard_count) {
      std::filesystem::remove(item.path());
    }
  }
}

// Rank 0 plans and shares the plan, or the reason it could not.
ShardPlan agree_on_plan(const ShardJobOptions& options, cluster::Communicator& comm) {
  std::string message;
  std::optional<Failure> failure;
  if (comm.is_root()) {
    try {
      files::make_directories(options.out_dir);
      const ShardPlan plan = plan_shards(options.sources, options.samples_per_shard);
      remove_stale_files(options.out_dir, static_cast<int64_t>(plan.shards.size()));
      message = "plan " + plan_to_json(plan);
    } catch (...) {
      failure = describe_current_exception();
      message = "fail " + failure->message;
    }
  }
  comm.broadcast(message, 0);
  if (failure) throw_failure(*failure);
  if (message.compare(0, 5, "fail ") == 0) {
    VLM_THROW(data::PeerFailed, "rank 0 could not plan the shards: ", message.substr(5));
  }
  return plan_from_json(message.substr(5));
}

void write_skipped_list(const std::string& out_dir, const data::ShardIndex& index) {
  const std::string path = files::join(out_dir, data::kSkippedListFile);
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    VLM_CHECK(out, IoError, "cannot create ", temp);
    for (const data::ShardEntry& shard : index.shards) {
      if (shard.skips.total() == 0) continue;
      const data::ShardReader reader(files::join(out_dir, shard.file));
      for (const data::SkippedRecord& skipped : reader.skipped()) {
        out << Json{{"source", shard.source},
                    {"record", skipped.record_index},
                    {"id", skipped.id},
                    {"reason", data::skip_reason_name(skipped.reason)},
                    {"detail", skipped.detail}}
                   // A record's bytes need not be UTF-8: invalid ones become U+FFFD here rather
                   // than ending the job.
                   .dump(-1, ' ', false, Json::error_handler_t::replace)
            << "\n";
      }
    }
    out.flush();
    VLM_CHECK(out, IoError, "cannot write ", temp);
  }
  files::commit_file(temp, path);
}

data::ShardIndex build_index(const ShardPlan& plan, const std::vector<RankOutcome>& outcomes) {
  data::ShardIndex index;
  index.samples_per_shard = plan.samples_per_shard;
  index.sources = plan.sources;
  index.shards.resize(plan.shards.size());
  std::vector<bool> seen(plan.shards.size(), false);
  for (const RankOutcome& outcome : outcomes) {
    for (const auto& [k, entry] : outcome.shards) {
      index.shards[static_cast<size_t>(k)] = entry;
      seen[static_cast<size_t>(k)] = true;
    }
  }
  for (size_t k = 0; k < seen.size(); ++k) {
    VLM_CHECK(seen[k], InternalError, "no rank reported shard ", k);
    const auto source = static_cast<size_t>(plan.shards[k].source);
    index.sources[source].samples += index.shards[k].samples;
    index.sources[source].skips.add(index.shards[k].skips);
  }
  return index;
}

// Rank 0: every rank's outcome in, index files out (or the failures as one message).
std::optional<Failure> conclude(const ShardPlan& plan, const ShardJobOptions& options,
                                const std::vector<std::string>& reports, ShardJobResult& result) {
  std::vector<RankOutcome> outcomes;
  std::optional<Failure> failure;
  for (size_t r = 0; r < reports.size(); ++r) {
    outcomes.push_back(outcome_from_json(reports[r], plan));
    result.shards_written += outcomes.back().written;
    result.shards_kept += outcomes.back().kept;
    if (const auto& f = outcomes.back().failure) {
      const std::string line =
          (reports.size() > 1 ? "rank " + std::to_string(r) + ": " : "") + f->message;
      if (!failure) {
        failure = Failure{f->kind, line};
      } else {
        failure->message += "\n" + line;
      }
    }
  }
  if (failure) return failure;
  try {
    result.index = build_index(plan, outcomes);
    write_skipped_list(options.out_dir, result.index);
    files::write_atomically(files::join(options.out_dir, data::kShardIndexFile),
                            data::shard_index_json(result.index));
  } catch (...) {
    return describe_current_exception();
  }
  return std::nullopt;
}

}  // namespace

ShardJobResult run_shard_job(const ShardJobOptions& options, cluster::Communicator& comm) {
  const auto start = std::chrono::steady_clock::now();
  const ShardPlan plan = agree_on_plan(options, comm);
  log::info("planned {} shard(s) over {} source(s)", plan.shards.size(), plan.sources.size());
  const RankOutcome mine = write_my_shards(plan, options, comm.rank(), comm.size());
  const std::vector<std::string> reports = comm.gather(outcome_to_json(mine), 0);
  ShardJobResult result;
  std::string status;
  std::optional<Failure> failure;
  if (comm.is_root()) {
    failure = conclude(plan, options, reports, result);
    status = failure ? failure->message : "";
  }
  comm.broadcast(status, 0);
  if (failure) throw_failure(*failure);
  if (!status.empty()) VLM_THROW(data::PeerFailed, "the shard job failed (rank 0 reports why)");
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace vlm::data
