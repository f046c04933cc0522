// The shard source: samples from a vlm-shard folder, read on demand.
#include <algorithm>
#include <list>
#include <mutex>
#include <set>
#include <utility>

#include "common/error.h"
#include "common/files.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "data/sample_source.h"
#include "data/shard_index.h"
#include "data/shard_reader.h"

namespace vlm::data {
namespace {

// An open reader holds its shard's per-sample columns (~50 bytes a sample). Readers stay open up
// to about this many samples (~50 MB), at least kMinOpenShards of them: the 665K mixture at the
// default 10,000 samples a shard stays open whole, so random sampling does not reopen shards; a
// corpus far larger than the budget reopens them (one H5Fopen and its columns per miss).
constexpr int64_t kOpenSamplesBudget = int64_t{1} << 20;
constexpr int64_t kMinOpenShards = 4;

size_t open_shards_for(const ShardIndex& index) {
  return static_cast<size_t>(
      std::max(kMinOpenShards, kOpenSamplesBudget / std::max<int64_t>(1, index.samples_per_shard)));
}

// The most recently used readers. Readers are shared, so one evicted while a loader thread reads
// from it lives until that read ends.
class ReaderCache {
 public:
  explicit ReaderCache(size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const ShardReader> get(int64_t shard, const std::string& path) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = open_.begin(); it != open_.end(); ++it) {
        if (it->first != shard) continue;
        open_.splice(open_.begin(), open_, it);  // most recent first
        return it->second;
      }
    }
    // Opened outside the cache's lock (the reader takes HDF5's own): two threads may open the
    // same shard at once, which costs a little and changes nothing.
    auto reader = std::make_shared<const ShardReader>(path);
    std::lock_guard<std::mutex> lock(mutex_);
    open_.emplace_front(shard, reader);
    if (open_.size() > capacity_) open_.pop_back();
    return reader;
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::list<std::pair<int64_t, std::shared_ptr<const ShardReader>>> open_;
};

std::shared_ptr<const SampleTraits> traits_of(const SampleLengths& lengths) {
  auto traits = std::make_shared<SampleTraits>();
  traits->reserve(lengths.text_length.size());
  for (size_t i = 0; i < lengths.text_length.size(); ++i) {
    traits->add(lengths.image_count[i] > 0, lengths.text_length[i]);
  }
  return traits;
}

class ShardSource final : public SampleSource {
 public:
  explicit ShardSource(const recipes::DataSection& data)
      : dir_(resolve(data, data.shards)),
        verify_(data.verify_shards),
        index_(read_shard_index(dir_)),
        locator_(index_),
        readers_(open_shards_for(index_)) {
    // read_sample_lengths opens one shard at a time; only the compact columns stay.
    traits_ = traits_of(read_sample_lengths(dir_, index_));
    VLM_CHECK(static_cast<int64_t>(traits_->size()) == locator_.total(), FormatError, dir_,
              ": the shards hold ", traits_->size(), " samples but index.json lists ",
              locator_.total());
  }

  int64_t size() const override { return locator_.total(); }
  std::shared_ptr<const SampleTraits> traits() const override { return traits_; }

  SourceRecord read(int64_t i) const override {
    const SampleLocation location = locator_.locate(i);
    ShardSample sample = reader(location.shard)->read(location.position);
    SourceRecord record;
    try {
      record.conversation = parse_record(sample.record_json);
    } catch (const FormatError& e) {
      VLM_THROW(FormatError, where(i), ": ", e.what());
    }
    VLM_CHECK(record.conversation.images.size() == sample.images.size(), FormatError, where(i),
              ": the record names ", record.conversation.images.size(),
              " images but the shard holds ", sample.images.size());
    for (EncodedImage& image : sample.images) record.image_bytes.push_back(std::move(image.bytes));
    return record;
  }

  std::string where(int64_t i) const override {
    const SampleLocation location = locator_.locate(i);
    return files::join(dir_, shard_file(location.shard)) + ": sample " +
           std::to_string(location.position);
  }

 private:
  const std::string& shard_file(int64_t shard) const {
    return index_.shards.at(static_cast<size_t>(shard)).file;
  }

  std::shared_ptr<const ShardReader> reader(int64_t shard) const {
    const std::string path = files::join(dir_, shard_file(shard));
    if (verify_) verify_once(shard, path);
    return readers_.get(shard, path);
  }

  // Before a shard's first sample is read in this process, its bytes must be the ones index.json
  // recorded: a flipped bit is an error naming the file, not a silent change to training.
  void verify_once(int64_t shard, const std::string& path) const {
    {
      std::lock_guard<std::mutex> lock(verified_mutex_);
      if (verified_.count(shard) > 0) return;
    }
    check_shard_checksum(path, index_.shards.at(static_cast<size_t>(shard)),
                         ": the shard changed after vlm-shard wrote it (vlm-shard --verify " +
                             dir_ +
                             " checks them all; data.verify_shards: false skips this check)");
    std::lock_guard<std::mutex> lock(verified_mutex_);
    verified_.insert(shard);
  }

  const std::string dir_;
  const bool verify_;
  const ShardIndex index_;
  const SampleLocator locator_;
  std::shared_ptr<const SampleTraits> traits_;
  mutable ReaderCache readers_;
  mutable std::mutex verified_mutex_;
  mutable std::set<int64_t> verified_;
};

}  // namespace

std::unique_ptr<SampleSource> open_shard_source(const recipes::DataSection& data) {
  return std::make_unique<ShardSource>(data);
}

}  // namespace vlm::data
