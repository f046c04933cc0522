// Where the loader's samples come from: a corpus file (JSON array or JSON Lines, with image files
// under an image root) or a vlm-shard folder. A source only answers "record i, with its images'
// encoded bytes"; rendering, tokenizing, decoding, resizing and collating are the loader's and the
// same for every source, so switching a recipe from json to shards cannot change a batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/conversation.h"
#include "data/sampler.h"
#include "recipes/recipe.h"

namespace vlm::data {

struct SourceRecord {
  Conversation conversation;
  std::vector<std::string> image_bytes;  // encoded (JPEG/PNG), one per conversation.images entry
  std::string unusable;  // why an image could not be read (the sample is left out of the loss)
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Samples, numbered 0..size()-1 (file order; for shards, shards in index order).
  virtual int64_t size() const = 0;
  // Per sample, for the sampler (compact: a shard source never holds more than these).
  virtual std::shared_ptr<const SampleTraits> traits() const = 0;
  // Sample i; safe to call from several threads at once. A JSON source throws IoError for a
  // missing image file; neither source decodes images.
  virtual SourceRecord read(int64_t i) const = 0;
  // "file: record i" / "shard file: sample k": where sample i lives, for messages.
  virtual std::string where(int64_t i) const = 0;
};

// data.json (with data.image_root, else corpus_dir, for the images). Reads and parses the whole
// file now, and renders every record with data.template so a malformed one fails here, naming the
// file and record.
std::unique_ptr<SampleSource> open_json_source(const recipes::DataSection& data);
// data.shards: reads index.json and every shard's per-sample lengths now (a few bytes a sample);
// samples are read from the shard files on demand, a bounded number of shards open at a time
// (about 1M samples' worth).
// data.image_root does not apply (the shards hold the images' bytes).
std::unique_ptr<SampleSource> open_shard_source(const recipes::DataSection& data);
// Whichever of data.json and data.shards is set (exactly one must be: ConfigError otherwise).
std::unique_ptr<SampleSource> open_sample_source(const recipes::DataSection& data);

}  // namespace vlm::data
