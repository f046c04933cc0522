// The JSON corpus source and the choice between sources. The shard source is in shard_source.cc.
#include "data/sample_source.h"

#include "common/error.h"
#include "common/files.h"
#include "common/text_format.h"
#include "data/corpus.h"
#include "data/image_root.h"
#include "data/loader.h"
#include "data/record_check.h"
#include "data/record_stream.h"

namespace vlm::data {
namespace {

int64_t count_turn_words(const Conversation& conversation) {
  int64_t words = 0;
  for (const Turn& turn : conversation.turns) words += count_words(turn.value);
  return words;
}

// A record that cannot be trained on keeps its slot (so that sample indices, and with them the
// sampler's order and a resume's position, do not depend on which records are bad) with a
// placeholder conversation, and is left out of the loss with the reason.
struct JsonRecord {
  Conversation conversation;
  std::string unusable;
};

JsonRecord unusable_record(std::string id, std::string why) {
  return {Conversation{std::move(id), {}, {{"human", "."}, {"gpt", "."}}, {}}, std::move(why)};
}

// Record by record (data::RecordStream), so that one bad record is one unusable sample rather
// than a refused file; only a JSON array whose structure is broken is an error of the file.
std::vector<JsonRecord> read_json_records(const std::string& path,
                                          const recipes::DataSection& data) {
  check_corpus_exists(path);
  RecordStream stream(path, corpus_format_of(path));
  stream.set_max_record_bytes(static_cast<uint64_t>(data.max_record_bytes));
  std::vector<JsonRecord> records;
  std::string text;
  uint64_t offset = 0;
  while (stream.next(text, offset)) {
    if (stream.last_record_bytes() > static_cast<uint64_t>(data.max_record_bytes)) {
      records.push_back(unusable_record({}, "record of " +
                                                std::to_string(stream.last_record_bytes()) +
                                                " bytes, over data.max_record_bytes (" +
                                                std::to_string(data.max_record_bytes) + ")"));
      continue;
    }
    JsonRecord record;
    try {
      record.conversation = parse_record(text);
      render(record.conversation, data.chat_template);
      records.push_back(std::move(record));
    } catch (const FormatError& e) {
      records.push_back(unusable_record(record.conversation.id, quoted_excerpt(e.what())));
    }
  }
  return records;
}

class JsonSource final : public SampleSource {
 public:
  explicit JsonSource(const recipes::DataSection& data)
      : path_(resolve(data, data.json)),
        image_root_(image_folder(data), image_limits(data), image_links(data)),
        corpus_(read_json_records(path_, data)) {
    auto traits = std::make_shared<SampleTraits>();
    traits->reserve(corpus_.size());
    for (const JsonRecord& record : corpus_) {
      // The same words vlm-shard stores per sample, so both sources sample alike.
      traits->add(!record.conversation.images.empty(), count_turn_words(record.conversation));
    }
    traits_ = std::move(traits);
  }

  int64_t size() const override { return static_cast<int64_t>(corpus_.size()); }
  std::shared_ptr<const SampleTraits> traits() const override { return traits_; }

  SourceRecord read(int64_t i) const override {
    const JsonRecord& source = corpus_.at(static_cast<size_t>(i));
    SourceRecord record;
    record.conversation = source.conversation;
    record.unusable = source.unusable;
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
    const Conversation& conversation = corpus_.at(static_cast<size_t>(i)).conversation;
    return path_ + ": record " + std::to_string(i) + " (id " + conversation.id + ")";
  }

 private:
  const std::string path_;
  const ImageRoot image_root_;
  const std::vector<JsonRecord> corpus_;
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
