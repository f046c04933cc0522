#include "data/loader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "data/collate.h"
#include "data/conversation.h"
#include "data/corpus.h"
#include "data/image.h"
#include "data/sampler.h"

namespace vlm::data {
namespace {

int64_t count_words(const Conversation& conversation) {
  int64_t words = 0;
  for (const Turn& turn : conversation.turns) {
    std::istringstream in(turn.value);
    std::string word;
    while (in >> word) ++words;
  }
  return words;
}

void check_options(const LoaderOptions& options) {
  const auto& data = options.data;
  VLM_CHECK(is_known_template(data.template_name), ConfigError, "data.template: unknown '",
            data.template_name, "' (plain, vicuna_v1 or qwen2)");
  VLM_CHECK(data.image_aspect == "square" || data.image_aspect == "pad", ConfigError,
            "data.image_aspect: unknown '", data.image_aspect, "' (square or pad)");
  VLM_CHECK(options.batch_size > 0, ConfigError, "the loader's batch size must be positive, not ",
            options.batch_size);
  VLM_CHECK(options.world_size > 0 && options.rank >= 0 && options.rank < options.world_size,
            ConfigError, "rank ", options.rank, " outside world size ", options.world_size);
  const int64_t per_call = options.batch_size * options.world_size;
  VLM_CHECK(options.global_batch_size == 0 || options.global_batch_size % per_call == 0,
            ConfigError, "training.global_batch_size ", options.global_batch_size,
            " is not a multiple of micro batch x world size (", per_call, ")");
  VLM_CHECK(!options.auto_image, ConfigError,
            "VDEP's <auto_image> samples are not supported by the loader yet");
}

}  // namespace

class LoaderImpl {
 public:
  LoaderImpl(const LoaderOptions& options, std::shared_ptr<const Tokenizer> tokenizer)
      : options_(options),
        tokenizer_(std::move(tokenizer)),
        corpus_path_(checked_corpus_path(options, tokenizer_.get())),
        image_root_(options.data.image_root.empty()
                        ? options.data.corpus_dir
                        : resolve(options.data, options.data.image_root)),
        corpus_(read_corpus(corpus_path_)),
        sampler_(options.data.sampler, options.seed, group_size(options), traits()) {
    const int64_t threads = options_.data.loader_threads;
    for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }

  ~LoaderImpl() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  int64_t samples_per_epoch() const { return sampler_.samples_per_epoch(); }

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
    }
    if (error) std::rethrow_exception(error);
    return batch;
  }

 private:
  // One micro batch in preparation.
  struct Job {
    std::vector<int64_t> indices;
    std::vector<PreparedSample> samples;
    size_t remaining = 0;
    bool done = false;
    std::exception_ptr error;
    Batch batch;
  };
  struct Task {
    std::shared_ptr<Job> job;
    size_t slot = 0;
  };

  static std::string checked_corpus_path(const LoaderOptions& options, const Tokenizer* tokenizer) {
    check_options(options);
    VLM_CHECK(tokenizer != nullptr, InternalError, "the loader needs a tokenizer");
    return resolve(options.data, options.data.json);
  }

  static int64_t group_size(const LoaderOptions& options) {
    return options.global_batch_size > 0 ? options.global_batch_size
                                         : options.batch_size * options.world_size;
  }

  // Renders every record once (a malformed one fails now, not hours into a run) and measures it.
  std::vector<SampleTraits> traits() const {
    std::vector<SampleTraits> traits;
    traits.reserve(corpus_.size());
    bool any_image = false;
    for (size_t i = 0; i < corpus_.size(); ++i) {
      const Conversation& conversation = corpus_[i];
      try {
        render(conversation, options_.data.template_name);
      } catch (const FormatError& e) {
        VLM_THROW(FormatError, corpus_path_, ": record ", i, ": ", e.what());
      }
      traits.push_back({!conversation.images.empty(), count_words(conversation)});
      any_image = any_image || !conversation.images.empty();
    }
    VLM_CHECK(!any_image || (options_.image_tokens > 0 && options_.image_size > 0), ConfigError,
              corpus_path_, " has images but the loader was given image_size ", options_.image_size,
              " and image_tokens ", options_.image_tokens);
    return traits;
  }

  // The next call's positions (consumer thread only: the sampler is not thread-safe).
  std::shared_ptr<Job> make_job() {
    auto job = std::make_shared<Job>();
    const int64_t batch = options_.batch_size;
    const int64_t first = base_ + calls_ * options_.world_size * batch + options_.rank * batch;
    for (int64_t k = 0; k < batch; ++k) job->indices.push_back(sampler_.at(first + k));
    job->samples.resize(static_cast<size_t>(batch));
    job->remaining = static_cast<size_t>(batch);
    ++calls_;
    return job;
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
      job->samples[slot] = prepare(job->indices[slot]);
    }
    return collate_job(*job);
  }

  Batch collate_job(const Job& job) const {
    return collate(job.samples, tokenizer_->pad_id(), options_.image_size, options_.image_tokens);
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
        sample = prepare(job.indices[task.slot]);
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
      job.samples.clear();
    }
    job_done_.notify_all();
  }

  // A pure function of the corpus index.
  PreparedSample prepare(int64_t index) const {
    const Conversation& conversation = corpus_[static_cast<size_t>(index)];
    PreparedSample sample;
    sample.id = conversation.id;
    try {
      sample.tokens = tokenize(render(conversation, options_.data.template_name), *tokenizer_,
                               options_.image_tokens, options_.data.max_seq_len);
      const auto size = static_cast<int>(options_.image_size);
      for (int64_t i = 0; i < sample.tokens.num_images; ++i) {
        const std::string path =
            files::join(image_root_, conversation.images[static_cast<size_t>(i)]);
        const RgbImage image = decode_image(files::read_all(path), path);
        preprocess(image, size, options_.data.image_aspect, sample.pixels);
      }
    } catch (const FormatError& e) {
      VLM_THROW(FormatError, corpus_path_, ": record ", index, " (id ", conversation.id,
                "): ", e.what());
    }
    return sample;
  }

  const LoaderOptions options_;
  const std::shared_ptr<const Tokenizer> tokenizer_;
  const std::string corpus_path_;
  const std::string image_root_;
  const std::vector<Conversation> corpus_;
  Sampler sampler_;  // consumer thread only

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

void Loader::seek(int64_t global_sample) { impl_->seek(global_sample); }

Batch Loader::next() { return impl_->next(); }

std::string resolve(const recipes::DataSection& data, const std::string& path) {
  if (path.empty() || path.front() == '/' || data.corpus_dir.empty()) return path;
  return files::join(data.corpus_dir, path);
}

}  // namespace vlm::data
