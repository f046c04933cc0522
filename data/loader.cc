#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "data/collate.h"
#include "data/conversation.h"
#include "data/image.h"
#include "data/sample_source.h"
#include "data/sampler.h"
#include "data/vdep_mix.h"

namespace vlm::data {
namespace {

bool exact_vdep_split(const LoaderOptions& options) {
  return options.vdep_ratio > 0.0 && options.vdep_split == recipes::VdepSplit::kExact;
}

int64_t group_size(const LoaderOptions& options) {
  return options.global_batch_size > 0 ? options.global_batch_size
                                       : options.batch_size * options.world_size;
}

void check_options(const LoaderOptions& options) {
  const auto& data = options.data;
  VLM_CHECK(options.batch_size > 0, ConfigError, "the loader's batch size must be positive, not ",
            options.batch_size);
  VLM_CHECK(options.world_size > 0 && options.rank >= 0 && options.rank < options.world_size,
            ConfigError, "rank ", options.rank, " outside world size ", options.world_size);
  const int64_t per_call = options.batch_size * options.world_size;
  VLM_CHECK(options.global_batch_size == 0 || options.global_batch_size % per_call == 0,
            ConfigError, "training.global_batch_size ", options.global_batch_size,
            " is not a multiple of micro batch x world size (", per_call, ")");
  VLM_CHECK(options.vdep_ratio >= 0.0, ConfigError, "vdep.ratio must not be negative, got ",
            options.vdep_ratio);
  const bool plain_sampler =
      data.sampler == recipes::SamplerKind::kRandom && data.text_only_fraction == 0.0;
  VLM_CHECK(!exact_vdep_split(options) || plain_sampler, ConfigError,
            "vdep.split exact draws each mode's rows itself: data.sampler must be random (got ",
            recipes::name_of(data.sampler), ") and data.text_only_fraction 0 (got ",
            data.text_only_fraction, ")");
}

bool has_special(const Tokenizer& tokenizer, const std::string& token) {
  try {
    tokenizer.special_id(token);
    return true;
  } catch (const ConfigError&) {
    return false;
  }
}

// The sampler's entries: the corpus's samples, then (vdep.split shuffled) the VDEP-mode entries
// (the corpus cycled).
struct EntryMap {
  int64_t samples = 0;
  int64_t vdep_entries = 0;

  int64_t entries() const { return samples + vdep_entries; }
  int64_t sample(int64_t entry) const {
    return entry < samples ? entry : (entry - samples) % samples;
  }
  bool vdep(int64_t entry) const { return entry >= samples; }
};

EntryMap entry_map(const LoaderOptions& options, const SampleTraits& traits) {
  EntryMap map;
  map.samples = static_cast<int64_t>(traits.size());
  if (options.vdep_split == recipes::VdepSplit::kShuffled) {
    map.vdep_entries =
        static_cast<int64_t>(std::llround(options.vdep_ratio * static_cast<double>(map.samples)));
  }
  return map;
}

std::shared_ptr<const SampleTraits> entry_traits(const EntryMap& map,
                                                 std::shared_ptr<const SampleTraits> traits) {
  if (map.vdep_entries == 0) return traits;
  auto entries = std::make_shared<SampleTraits>();
  entries->reserve(static_cast<size_t>(map.entries()));
  for (int64_t entry = 0; entry < map.entries(); ++entry) {
    const auto sample = static_cast<size_t>(map.sample(entry));
    entries->add(traits->has_image(sample), traits->length(sample));
  }
  return entries;
}

// Puts "<auto_image>" before each image of a VDEP-mode sample. It carries no label, as the
// image does not.
std::vector<Segment> with_auto_image(const std::vector<Segment>& segments) {
  std::vector<Segment> out;
  for (const Segment& segment : segments) {
    if (segment.kind == Segment::Kind::kImage) {
      Segment marker = segment;
      marker.kind = Segment::Kind::kText;
      marker.text = "<auto_image>";
      marker.trainable = false;
      out.push_back(marker);
    }
    out.push_back(segment);
  }
  return out;
}

}  // namespace

class LoaderImpl {
 public:
  LoaderImpl(const LoaderOptions& options, std::shared_ptr<const Tokenizer> tokenizer)
      : options_(options),
        images_(image_preprocessing(options.data, options.vision_folder, options.image_size)),
        tokenizer_(std::move(tokenizer)),
        source_(checked_source(options, tokenizer_.get())),
        entries_(entry_map(options, *source_->traits())),
        sampler_(options.data.sampler, options.seed, group_size(options),
                 entry_traits(entries_, source_->traits()), options.data.text_only_fraction) {
    if (exact_vdep_split(options_)) {
      mix_.emplace(options_.seed, static_cast<int64_t>(source_->traits()->size()),
                   group_size(options_), options_.vdep_ratio);
    }
    const int64_t threads = options_.data.loader_threads;
    try {
      for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {
      // No destructor runs for a half-built object: the started threads must be joined here.
      stop_workers();
      VLM_THROW(ConfigError, "data.loader_threads: ", threads, " threads could not be started (",
                workers_.size(), " were): ", e.what());
    }
  }

  ~LoaderImpl() { stop_workers(); }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  int64_t samples_per_epoch() const {
    return mix_ ? mix_->samples_per_epoch() : sampler_.samples_per_epoch();
  }

  LoaderStats stats() const { return {undecodable_samples_.load()}; }

  void seek(int64_t global_sample) {
    VLM_CHECK(global_sample >= 0, InternalError, "seek to negative sample ", global_sample);
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.clear();
    window_.clear();  // workers busy with an old job finish it into the void
    base_ = global_sample;
    calls_ = 0;
  }

  Batch next() {
    if (workers_.empty()) return next_inline();
    Batch batch;
    std::exception_ptr error;
    std::vector<std::string> dropped;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      fill_window();
      const std::shared_ptr<Job> job = window_.front();
      window_.pop_front();
      fill_window();
      job_done_.wait(lock, [&] { return job->done; });
      // Moved out under the lock: the worker may still hold the job, never its contents.
      batch = std::move(job->batch);
      error = std::move(job->error);
      dropped = std::move(job->dropped);
    }
    if (error) std::rethrow_exception(error);
    report_dropped(dropped);
    return batch;
  }

 private:
  // A row to prepare: its global position, corpus sample and mode.
  struct Pick {
    int64_t position = 0;
    MixedSample row;
  };
  // One micro batch in preparation.
  struct Job {
    std::vector<Pick> picks;
    std::vector<PreparedSample> samples;
    size_t remaining = 0;
    bool done = false;
    std::exception_ptr error;
    Batch batch;
    std::vector<std::string> dropped;  // why each sample left out of the loss was
  };
  struct Task {
    std::shared_ptr<Job> job;
    size_t slot = 0;
  };

  static std::unique_ptr<SampleSource> checked_source(const LoaderOptions& options,
                                                      const Tokenizer* tokenizer) {
    check_options(options);
    VLM_CHECK(tokenizer != nullptr, InternalError, "the loader needs a tokenizer");
    VLM_CHECK(options.vdep_ratio == 0.0 || has_special(*tokenizer, "<auto_image>"), ConfigError,
              "vdep.ratio ", options.vdep_ratio,
              " puts <auto_image> before images, but the tokenizer has no such token (a vdep "
              "stage's tokenizer adds it: data::load_run_tokenizer)");
    auto source = open_sample_source(options.data);
    const SampleTraits& traits = *source->traits();
    bool any_image = false;
    for (size_t i = 0; i < traits.size() && !any_image; ++i) any_image = traits.has_image(i);
    VLM_CHECK(!any_image || (options.image_tokens > 0 && options.image_size > 0), ConfigError,
              source_name(options.data), " has images but the loader was given image_size ",
              options.image_size, " and image_tokens ", options.image_tokens);
    return source;
  }

  static std::string source_name(const recipes::DataSection& data) {
    return resolve(data, data.shards.empty() ? data.json : data.shards);
  }

  // The next call's positions (consumer thread only: the sampler is not thread-safe).
  std::shared_ptr<Job> make_job() {
    auto job = std::make_shared<Job>();
    const int64_t batch = options_.batch_size;
    const int64_t first = base_ + calls_ * options_.world_size * batch + options_.rank * batch;
    for (int64_t k = 0; k < batch; ++k) job->picks.push_back({first + k, pick(first + k)});
    job->samples.resize(static_cast<size_t>(batch));
    job->remaining = static_cast<size_t>(batch);
    ++calls_;
    return job;
  }

  MixedSample pick(int64_t position) {
    if (mix_) return mix_->at(position);
    const int64_t entry = sampler_.at(position);
    return {entries_.sample(entry), entries_.vdep(entry)};
  }

  // Called with mutex_ held.
  void fill_window() {
    const auto depth = static_cast<size_t>(std::max<int64_t>(1, options_.data.prefetch_batches));
    while (window_.size() < depth) {
      auto job = make_job();
      for (size_t slot = 0; slot < job->samples.size(); ++slot) tasks_.push_back({job, slot});
      window_.push_back(std::move(job));
    }
    work_ready_.notify_all();
  }

  Batch next_inline() {
    auto job = make_job();
    for (size_t slot = 0; slot < job->samples.size(); ++slot) {
      job->samples[slot] = prepare(job->picks[slot]);
    }
    Batch batch = collate_job(*job);
    report_dropped(dropped_samples(*job));
    return batch;
  }

  Batch collate_job(const Job& job) const {
    Batch batch =
        collate(job.samples, tokenizer_->pad_id(), options_.image_size, options_.image_tokens);
    batch.rows_left_out = std::count_if(
        job.samples.begin(), job.samples.end(),
        [](const PreparedSample& sample) { return !sample.dropped_from_loss.empty(); });
    return batch;
  }

  void work() {
    while (true) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (stopping_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      Job& job = *task.job;
      PreparedSample sample;
      std::exception_ptr error;
      try {
        sample = prepare(job.picks[task.slot]);
      } catch (...) {
        error = std::current_exception();
      }
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        job.samples[task.slot] = std::move(sample);
        if (error && !job.error) job.error = std::move(error);
        last = --job.remaining == 0;
      }
      if (last) finish(job);
    }
  }

  // The worker that completes a job's last sample collates it, so next() only hands it over.
  void finish(Job& job) {
    Batch batch;
    std::exception_ptr error;
    if (!job.error) {
      try {
        batch = collate_job(job);
      } catch (...) {
        error = std::current_exception();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job.batch = std::move(batch);
      if (error) job.error = std::move(error);
      job.done = true;
      job.dropped = dropped_samples(job);
      job.samples.clear();
    }
    job_done_.notify_all();
  }

  // A pure function of the pick (whatever the rank, thread or resume point).
  PreparedSample prepare(const Pick& pick) const {
    const int64_t index = pick.row.sample;
    SourceRecord record = source_->read(index);
    PreparedSample sample;
    sample.id = record.conversation.id;
    sample.vdep = pick.row.vdep;
    sample.position = pick.position;
    sample.index = index;
    const std::string too_long = cut_text_over_cap(record.conversation);
    if (!too_long.empty() && record.unusable.empty()) record.unusable = too_long;
    try {
      std::vector<Segment> segments = render(record.conversation, options_.data.chat_template);
      if (sample.vdep) segments = with_auto_image(segments);
      sample.tokens =
          tokenize(segments, *tokenizer_, options_.image_tokens, options_.data.max_seq_len);
      if (sample.vdep && !options_.vdep_text_loss) {
        std::fill(sample.tokens.labels.begin(), sample.tokens.labels.end(), kIgnoreLabel);
      }
    } catch (const FormatError& e) {
      VLM_THROW(FormatError, source_->where(index), ": ", e.what());
    }
    if (!record.unusable.empty()) {
      drop_from_loss(sample, index, record.unusable);
      return sample;
    }
    const ImageLimits limits = image_limits(options_.data);
    for (int64_t i = 0; i < sample.tokens.num_images; ++i) {
      const auto image = static_cast<size_t>(i);
      try {
        preprocess(decode_image(record.image_bytes[image], record.conversation.images[image],
                                limits.max_pixels),
                   images_, sample.pixels);
      } catch (const FormatError& e) {
        drop_from_loss(sample, index, e.what());
        break;
      }
    }
    return sample;
  }

  // Text past what max_seq_len tokens can hold is never tokenized: SentencePiece merges a run of
  // unknown characters in time quadratic in its length (a record of 5 MB of one unknown
  // character held a loader thread for over ten minutes). A conversation whose turns hold more
  // than kTextBytesPerToken x max_seq_len bytes (64 KiB at least) keeps its slot and its image
  // placeholders, loses its text, and leaves the loss like a sample whose image is refused.
  // Returns why, or "" when the text is within the cap.
  std::string cut_text_over_cap(Conversation& conversation) const {
    constexpr int64_t kTextBytesPerToken = 64;
    const int64_t cap =
        std::max<int64_t>(int64_t{64} << 10, kTextBytesPerToken * options_.data.max_seq_len);
    int64_t bytes = 0;
    for (const Turn& turn : conversation.turns) bytes += static_cast<int64_t>(turn.value.size());
    if (bytes <= cap) return {};
    for (Turn& turn : conversation.turns) {
      std::string kept;
      for (int i = count_image_placeholders(turn.value); i > 0; --i) kept += "<image>\n";
      turn.value = kept.empty() ? "." : kept;
    }
    return "text of " + std::to_string(bytes) + " bytes, over the cap of " + std::to_string(cap) +
           " (" + std::to_string(kTextBytesPerToken) + " bytes per data.max_seq_len token)";
  }

  // An image whose header passed vlm-shard's check but whose data does not decode: the sample
  // keeps its slot (so no other sample moves, on any rank) with mean-colour pixels (0 after
  // normalization) and no labels, so it adds nothing to the loss.
  void drop_from_loss(PreparedSample& sample, int64_t index, const std::string& reason) const {
    const auto pixels_per_image =
        static_cast<size_t>(3 * options_.image_size * options_.image_size);
    sample.pixels.assign(static_cast<size_t>(sample.tokens.num_images) * pixels_per_image, 0.0f);
    std::fill(sample.tokens.labels.begin(), sample.tokens.labels.end(), kIgnoreLabel);
    sample.dropped_from_loss = "sample '" + sample.id + "' (" + source_->where(index) +
                               ") left out of the loss: " + reason;
  }

  static std::vector<std::string> dropped_samples(const Job& job) {
    std::vector<std::string> dropped;
    for (const PreparedSample& sample : job.samples) {
      if (!sample.dropped_from_loss.empty()) dropped.push_back(sample.dropped_from_loss);
    }
    return dropped;
  }

  // Counted and logged when next() hands the batch out, so prefetching changes neither.
  void report_dropped(const std::vector<std::string>& dropped) {
    for (const std::string& message : dropped) log::warn("{}", message);
    undecodable_samples_ += static_cast<int64_t>(dropped.size());
  }

  const LoaderOptions options_;
  const ImagePreprocessing images_;  // data.image_aspect, pad_colour and the vision processor
  const std::shared_ptr<const Tokenizer> tokenizer_;
  const std::unique_ptr<SampleSource> source_;
  const EntryMap entries_;
  Sampler sampler_;             // consumer thread only
  std::optional<VdepMix> mix_;  // vdep.split exact: picks every row itself; consumer thread only
  std::atomic<int64_t> undecodable_samples_{0};

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable job_done_;
  std::deque<Task> tasks_;
  std::deque<std::shared_ptr<Job>> window_;
  int64_t base_ = 0;
  int64_t calls_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

Loader::Loader(const LoaderOptions& options, std::shared_ptr<const Tokenizer> tokenizer)
    : impl_(std::make_unique<LoaderImpl>(options, std::move(tokenizer))) {}

Loader::~Loader() = default;

int64_t Loader::samples_per_epoch() const { return impl_->samples_per_epoch(); }

LoaderStats Loader::stats() const { return impl_->stats(); }

void Loader::seek(int64_t global_sample) { impl_->seek(global_sample); }

Batch Loader::next() { return impl_->next(); }

std::string resolve(const recipes::DataSection& data, const std::string& path) {
  if (path.empty() || path.front() == '/' || data.corpus_dir.empty()) return path;
  return files::join(data.corpus_dir, path);
}

std::string image_folder(const recipes::DataSection& data) {
  const std::string folder =
      data.image_root.empty() ? data.corpus_dir : resolve(data, data.image_root);
  return folder.empty() ? "." : folder;
}

ImageLimits image_limits(const recipes::DataSection& data) {
  return {data.max_image_bytes, data.max_image_pixels};
}

ImageLinks image_links(const recipes::DataSection& data) {
  return data.follow_symlinks ? ImageLinks::kFollowed : ImageLinks::kConfined;
}

}  // namespace vlm::data
