// The JSON corpus source and the choice between sources. The shard source is in shard_source.cc.
#include "data/sample_source.h"

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"
#include "data/corpus.h"
#include "data/image_root.h"
#include "data/loader.h"
#include "data/record_check.h"

namespace vlm::data {
namespace {

int64_t count_turn_words(const Conversation& conversation) {
  int64_t words = 0;
  for (const Turn& turn : conversation.turns) words += count_words(turn.value);
  return words;
}

class JsonSource final : public SampleSource {
 public:
  explicit JsonSource(const recipes::DataSection& data)
      : path_(resolve(data, data.json)),
        image_root_(image_folder(data), image_limits(data)),
        corpus_(read_corpus(path_)) {
    auto traits = std::make_shared<SampleTraits>();
    traits->reserve(corpus_.size());
    for (size_t i = 0; i < corpus_.size(); ++i) {
      const Conversation& conversation = corpus_[i];
      try {
        render(conversation, data.template_name);
      } catch (const FormatError& e) {
        VLM_THROW(FormatError, where(static_cast<int64_t>(i)), ": ", e.what());
      }
      // The same words vlm-shard stores per sample, so both sources sample alike.
      traits->add(!conversation.images.empty(), count_turn_words(conversation));
    }
    traits_ = std::move(traits);
  }

  int64_t size() const override { return static_cast<int64_t>(corpus_.size()); }
  std::shared_ptr<const SampleTraits> traits() const override { return traits_; }

  SourceRecord read(int64_t i) const override {
    SourceRecord record;
    record.conversation = corpus_.at(static_cast<size_t>(i));
    std::string error;
    for (const std::string& image : record.conversation.images) {
      record.image_bytes.emplace_back();
      if (!record.unusable.empty()) continue;
      if (image_root_.read(image, record.image_bytes.back(), error) != ImageRoot::Status::kOk) {
        record.unusable = "image " + quoted_excerpt(image) + ": " + error;
      }
    }
    return record;
  }

  std::string where(int64_t i) const override {
    const Conversation& conversation = corpus_.at(static_cast<size_t>(i));
    return path_ + ": record " + std::to_string(i) + " (id " + conversation.id + ")";
  }

 private:
  const std::string path_;
  const ImageRoot image_root_;
  const std::vector<Conversation> corpus_;
  std::shared_ptr<const SampleTraits> traits_;
};

}  // namespace

std::unique_ptr<SampleSource> open_json_source(const recipes::DataSection& data) {
  return std::make_unique<JsonSource>(data);
}

std::unique_ptr<SampleSource> open_sample_source(const recipes::DataSection& data) {
  VLM_CHECK(!data.json.empty() || !data.shards.empty(), ConfigError,
            "data.json or data.shards is required (a corpus file, or a folder vlm-shard wrote)");
  VLM_CHECK(data.json.empty() || data.shards.empty(), ConfigError, "data.json (", data.json,
            ") and data.shards (", data.shards, ") are both set: a stage reads one of them");
  return data.shards.empty() ? open_json_source(data) : open_shard_source(data);
}

}  // namespace vlm::data
