// The loader on shards written by the real vlm-shard job (run in-process on one rank): every
// sample of an epoch exactly once on 1, 2 and 3 ranks and across a resume at another rank count;
// the same batches as the JSON corpus the shards came from; undecodable images left out of the
// loss without moving any sample.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "cluster/communicator.h"
#include "common/error.h"
#include "common/files.h"
#include "data/corpus.h"
#include "data/image.h"
#include "data/image_root.h"
#include "data/loader.h"
#include "data/shard_job.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data {
namespace {

using vlm::testing::synth_corpus_dir;

constexpr int64_t kImageTokens = 16;
constexpr char kInstructions[] = "llava_v1_5_mix665k.json";
constexpr char kCaptions[] = "blip_laion_cc_sbu_558k.json";

std::shared_ptr<const Tokenizer> synth_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer =
      load_sentencepiece(synth_corpus_dir() + "/tokenizer.model");
  return tokenizer;
}

// Runs the vlm-shard job on one corpus file, samples_per_shard records to a shard.
void shard(const std::string& input, const std::string& image_root, const std::string& out,
           int64_t samples_per_shard) {
  ShardJobOptions options;
  options.sources = {parse_source_spec(input, image_root)};
  options.out_dir = out;
  options.samples_per_shard = samples_per_shard;
  options.strict = true;  // the synthetic corpora have no bad records
  const auto comm = cluster::make_local_communicator();
  run_shard_job(options, *comm);
}

// The synthetic corpus's instruction and caption files as shards (10 records a shard, so
// samples cross shard boundaries), made once per test run.
const std::string& synth_shards() {
  static vlm::testing::TempDir dir;
  static const bool made = [] {
    const std::string corpus = synth_corpus_dir();
    shard(corpus + "/" + kInstructions, corpus, dir.file("mix"), 10);
    shard(corpus + "/" + kCaptions, corpus + "/images", dir.file("captions"), 10);
    return true;
  }();
  (void)made;
  return dir.path();
}

LoaderOptions instruction_options(int64_t batch, int64_t rank = 0, int64_t world = 1) {
  LoaderOptions options;
  options.data.corpus_dir = synth_corpus_dir();
  options.data.shards = synth_shards() + "/mix";  // absolute: corpus_dir does not apply
  options.data.chat_template = recipes::Template::kVicunaV1;
  options.data.image_aspect = recipes::ImageAspect::kPad;
  options.data.loader_threads = 2;
  options.data.prefetch_batches = 2;
  options.seed = 5;
  options.image_size = 32;
  options.image_tokens = kImageTokens;
  options.batch_size = batch;
  options.rank = rank;
  options.world_size = world;
  return options;
}

LoaderOptions as_json(LoaderOptions options, const std::string& json) {
  options.data.shards.clear();
  options.data.json = json;
  return options;
}

std::multiset<std::string> corpus_ids(const std::string& json) {
  std::multiset<std::string> ids;
  for (const auto& conversation : read_corpus(synth_corpus_dir() + "/" + json)) {
    ids.insert(conversation.id);
  }
  return ids;
}

// One loader per rank, all reading from the same global sample counter.
class Ranks {
 public:
  Ranks(LoaderOptions options, int64_t world, int64_t start) {
    options.world_size = world;
    options.batch_size = options.global_batch_size / world;
    for (int64_t rank = 0; rank < world; ++rank) {
      options.rank = rank;
      loaders_.push_back(std::make_unique<Loader>(options, synth_tokenizer()));
      loaders_.back()->seek(start);
    }
  }
  // One optimizer step: every rank's micro batch, ids in global order.
  std::vector<std::string> step() {
    std::vector<std::string> ids;
    for (auto& loader : loaders_) {
      const Batch batch = loader->next();
      ids.insert(ids.end(), batch.sample_ids.begin(), batch.sample_ids.end());
    }
    return ids;
  }
  int64_t samples_per_epoch() const { return loaders_[0]->samples_per_epoch(); }

 private:
  std::vector<std::unique_ptr<Loader>> loaders_;
};

// The ids `world` ranks read in `steps` steps of the global batch, from global sample `start`.
std::vector<std::string> global_stream(const LoaderOptions& options, int64_t world, int64_t start,
                                       int64_t steps) {
  Ranks ranks(options, world, start);
  std::vector<std::string> ids;
  for (int64_t step = 0; step < steps; ++step) {
    const auto step_ids = ranks.step();
    ids.insert(ids.end(), step_ids.begin(), step_ids.end());
  }
  return ids;
}

void expect_same(const Batch& a, const Batch& b, const std::string& what) {
  EXPECT_EQ(a.sample_ids, b.sample_ids) << what;
  EXPECT_EQ(a.seq_len, b.seq_len) << what;
  EXPECT_EQ(a.input_ids, b.input_ids) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
  EXPECT_EQ(a.lengths, b.lengths) << what;
  EXPECT_EQ(a.num_images, b.num_images) << what;
  EXPECT_EQ(a.pixels, b.pixels) << what;  // bit for bit
  EXPECT_EQ(a.label_tokens, b.label_tokens) << what;
  ASSERT_EQ(a.image_spans.size(), b.image_spans.size()) << what;
  for (size_t i = 0; i < a.image_spans.size(); ++i) {
    EXPECT_EQ(a.image_spans[i].sample, b.image_spans[i].sample) << what;
    EXPECT_EQ(a.image_spans[i].start, b.image_spans[i].start) << what;
  }
}

TEST(ShardLoader, EverySampleOncePerEpochOnOneTwoAndThreeRanks) {
  const auto all = corpus_ids(kInstructions);
  ASSERT_EQ(all.size(), 96u);
  LoaderOptions options = instruction_options(0);
  options.global_batch_size = 12;  // 12 x 1, 6 x 2, 4 x 3
  const std::vector<std::string> one = global_stream(options, 1, 0, 8);
  EXPECT_EQ(std::multiset<std::string>(one.begin(), one.end()), all);
  EXPECT_EQ(global_stream(options, 2, 0, 8), one);
  EXPECT_EQ(global_stream(options, 3, 0, 8), one);
  // The next epoch: another order of the same samples.
  const std::vector<std::string> next = global_stream(options, 3, 96, 8);
  EXPECT_EQ(std::multiset<std::string>(next.begin(), next.end()), all);
  EXPECT_NE(next, one);
}

TEST(ShardLoader, ResumeMidEpochOnAnotherRankCountSeesEverySampleOnce) {
  const auto all = corpus_ids(kInstructions);
  for (const recipes::SamplerKind sampler :
       {recipes::SamplerKind::kRandom, recipes::SamplerKind::kModalityLength}) {
    LoaderOptions options = instruction_options(0);
    options.data.sampler = sampler;
    options.global_batch_size = 12;
    const int64_t per_epoch = Ranks(options, 1, 0).samples_per_epoch();
    ASSERT_EQ(per_epoch % 12, 0) << recipes::name_of(sampler);
    const int64_t steps = per_epoch / 12;
    const std::vector<std::string> uninterrupted = global_stream(options, 1, 0, steps);
    // 2 ranks for 3 steps, then 3 ranks from the saved global counter (36) to the epoch's end.
    std::vector<std::string> resumed = global_stream(options, 2, 0, 3);
    const auto rest = global_stream(options, 3, 3 * 12, steps - 3);
    resumed.insert(resumed.end(), rest.begin(), rest.end());
    EXPECT_EQ(resumed, uninterrupted) << recipes::name_of(sampler);
    const std::set<std::string> seen(resumed.begin(), resumed.end());
    EXPECT_EQ(seen, std::set<std::string>(all.begin(), all.end())) << recipes::name_of(sampler);
    if (sampler == recipes::SamplerKind::kRandom) {
      EXPECT_EQ(std::multiset<std::string>(resumed.begin(), resumed.end()), all);
    } else {
      // Only the fill-up of each modality's last megabatch repeats a sample.
      std::map<std::string, int> counts;
      for (const auto& id : resumed) ++counts[id];
      int64_t repeats = 0;
      for (const auto& [id, count] : counts) repeats += count - 1;
      EXPECT_EQ(repeats, per_epoch - 96) << recipes::name_of(sampler);
      EXPECT_LT(repeats, 2 * 12) << recipes::name_of(sampler);
    }
  }
}

TEST(ShardLoader, ShardsAndJsonGiveIdenticalBatches) {
  struct Case {
    const char* json;
    const char* shards;
    const char* image_root;
    recipes::Template chat_template;
    recipes::ImageAspect aspect;
    recipes::SamplerKind sampler;
  };
  for (const Case& c : {Case{kInstructions, "mix", "", recipes::Template::kVicunaV1,
                             recipes::ImageAspect::kPad, recipes::SamplerKind::kModalityLength},
                        Case{kInstructions, "mix", "", recipes::Template::kVicunaV1,
                             recipes::ImageAspect::kSquare, recipes::SamplerKind::kRandom},
                        Case{kCaptions, "captions", "images", recipes::Template::kPlain,
                             recipes::ImageAspect::kSquare, recipes::SamplerKind::kRandom}}) {
    LoaderOptions from_shards = instruction_options(4, 1, 2);
    from_shards.data.shards = synth_shards() + "/" + c.shards;
    from_shards.data.image_root = c.image_root;
    from_shards.data.chat_template = c.chat_template;
    from_shards.data.image_aspect = c.aspect;
    from_shards.data.sampler = c.sampler;
    from_shards.global_batch_size = 16;
    const LoaderOptions from_json = as_json(from_shards, c.json);
    Loader shards(from_shards, synth_tokenizer());
    Loader json(from_json, synth_tokenizer());
    ASSERT_EQ(shards.samples_per_epoch(), json.samples_per_epoch()) << c.json;
    const int64_t calls = 2 * json.samples_per_epoch() / 16 + 1;  // over an epoch boundary
    int64_t images = 0;
    for (int64_t call = 0; call < calls; ++call) {
      const Batch batch = json.next();
      images += batch.num_images;
      expect_same(shards.next(), batch, std::string(c.json) + " call " + std::to_string(call));
    }
    EXPECT_GT(images, 0) << c.json;
    EXPECT_EQ(shards.stats().undecodable_samples, 0);
  }
}

// JPEG bytes whose header passes vlm-shard's check but whose data does not decode.
std::string jpeg_that_fails_to_decode() {
  RgbImage image;
  image.width = image.height = 16;
  image.pixels.assign(16 * 16 * 3, 200);
  const std::string good = encode_jpeg(image, 95);
  // Cut right after the frame header (SOF0), which is as far as the header check reads, and
  // follow it with a marker no decoder knows (0xff01).
  const size_t sof = good.find("\xff\xc0");
  const size_t length =
      (static_cast<unsigned char>(good[sof + 2]) << 8) | static_cast<unsigned char>(good[sof + 3]);
  std::string bad = good.substr(0, sof + 2 + length) + std::string("\xff\x01\xff\xd9", 4);
  int width = 0, height = 0;
  EXPECT_TRUE(read_image_header(bad, width, height));
  EXPECT_THROW(decode_image(bad, "bad.jpg"), FormatError);
  return bad;
}

TEST(ShardLoader, UndecodableImageIsLeftOutOfTheLossWithoutMovingASample) {
  vlm::testing::TempDir dir;
  RgbImage image;
  image.width = image.height = 16;
  image.pixels.assign(16 * 16 * 3, 50);
  files::write_atomically(dir.file("good.jpg"), encode_jpeg(image, 95));
  files::write_atomically(dir.file("bad.jpg"), jpeg_that_fails_to_decode());
  std::string records = "[\n";
  for (int i = 0; i < 8; ++i) {
    records += std::string(i ? ",\n" : "") + R"({"id": "s)" + std::to_string(i) +
               R"(", "image": ")" + (i == 5 ? "bad" : "good") +
               R"(.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat colour?"},)" +
               R"( {"from": "gpt", "value": "red"}]})";
  }
  files::write_atomically(dir.file("corpus.json"), records + "\n]\n");
  shard(dir.file("corpus.json"), dir.path(), dir.file("shards"), 3);

  LoaderOptions options = instruction_options(4);
  options.data.corpus_dir = dir.path();
  options.data.shards = "shards";  // relative to corpus_dir
  options.data.sampler = recipes::SamplerKind::kRandom;
  for (const LoaderOptions& each : {options, as_json(options, "corpus.json")}) {
    Loader loader(each, synth_tokenizer());
    int64_t seen_bad = 0;
    std::multiset<std::string> ids;
    for (int call = 0; call < 2; ++call) {
      const Batch batch = loader.next();
      ids.insert(batch.sample_ids.begin(), batch.sample_ids.end());
      ASSERT_EQ(batch.num_images, 4);
      for (int64_t row = 0; row < 4; ++row) {
        const auto labels = batch.labels.begin() + row * batch.seq_len;
        const bool any_label = std::any_of(labels, labels + batch.seq_len,
                                           [](int64_t label) { return label != kIgnoreLabel; });
        const auto pixels = batch.pixels.begin() + row * 3 * 32 * 32;
        const bool all_zero =
            std::all_of(pixels, pixels + 3 * 32 * 32, [](float value) { return value == 0.0f; });
        const bool bad = batch.sample_ids[static_cast<size_t>(row)] == "s5";
        EXPECT_EQ(any_label, !bad) << batch.sample_ids[static_cast<size_t>(row)];
        EXPECT_EQ(all_zero, bad) << batch.sample_ids[static_cast<size_t>(row)];
        seen_bad += bad;
      }
    }
    EXPECT_EQ(ids.size(), 8u);  // the epoch: every sample once, the bad one in its slot
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 8u);
    EXPECT_EQ(seen_bad, 1);
    EXPECT_EQ(loader.stats().undecodable_samples, 1);
  }
  // Both sources put every sample, the bad one included, in the same slot.
  Loader from_shards(options, synth_tokenizer());
  Loader from_json(as_json(options, "corpus.json"), synth_tokenizer());
  for (int call = 0; call < 2; ++call) {
    expect_same(from_shards.next(), from_json.next(), "call " + std::to_string(call));
  }
}

// Issue 18, items 3 and 5: training from JSON opened any path a record named ("../..",
// "/dev/zero") and decoded any size. Every such image is now refused by the one containment rule
// and the caps; its sample keeps its slot, is left out of the loss and counted.
TEST(ShardLoader, JsonImagesOutsideTheRootOrOverTheCapsLeaveTheLoss) {
  vlm::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("corpus/images"));
  RgbImage image;
  image.width = image.height = 16;
  image.pixels.assign(16 * 16 * 3, 50);
  files::write_atomically(dir.file("corpus/images/good.jpg"), encode_jpeg(image, 95));
  files::write_atomically(dir.file("corpus/outside.jpg"), encode_jpeg(image, 95));
  std::string bomb = encode_jpeg(image, 95);
  const size_t sof = bomb.find("\xFF\xC0", 2);
  ASSERT_NE(sof, std::string::npos);
  bomb[sof + 5] = bomb[sof + 7] = static_cast<char>(26000 >> 8);
  bomb[sof + 6] = bomb[sof + 8] = static_cast<char>(26000 & 0xFF);
  files::write_atomically(dir.file("corpus/images/bomb.jpg"), bomb);
  ASSERT_EQ(::mkfifo(dir.file("corpus/images/fifo.jpg").c_str(), 0644), 0);
  const std::vector<std::string> paths = {"good.jpg",  "../outside.jpg", "/etc/hostname",
                                          "/dev/zero", "bomb.jpg",       "fifo.jpg",
                                          "good.jpg",  "missing.jpg"};
  std::string records = "[\n";
  for (size_t i = 0; i < paths.size(); ++i) {
    records += std::string(i ? ",\n" : "") + R"({"id": "s)" + std::to_string(i) +
               R"(", "image": ")" + paths[i] +
               R"(", "conversations": [{"from": "human", "value": "<image>\nWhat colour?"},)" +
               R"( {"from": "gpt", "value": "red"}]})";
  }
  files::write_atomically(dir.file("corpus/corpus.json"), records + "\n]\n");
  LoaderOptions options = as_json(instruction_options(8), "corpus.json");
  options.data.corpus_dir = dir.file("corpus");
  options.data.image_root = "images";
  options.data.sampler = recipes::SamplerKind::kRandom;
  Loader loader(options, synth_tokenizer());
  const Batch batch = loader.next();
  ASSERT_EQ(batch.sample_ids.size(), 8u);
  for (int64_t row = 0; row < 8; ++row) {
    const std::string& id = batch.sample_ids[static_cast<size_t>(row)];
    const auto labels = batch.labels.begin() + row * batch.seq_len;
    const bool any_label = std::any_of(labels, labels + batch.seq_len,
                                       [](int64_t label) { return label != kIgnoreLabel; });
    EXPECT_EQ(any_label, id == "s0" || id == "s6") << id;
  }
  EXPECT_EQ(batch.rows_left_out, 6);  // the trainer stops a stage where that is most rows
  EXPECT_EQ(loader.stats().undecodable_samples, 6);
}

// Issue 18, item 15: a shard whose bytes changed after vlm-shard wrote it is an error naming it,
// before any of its samples is used.
TEST(ShardLoader, AFlippedBitInAShardIsFoundBeforeItsSamplesAreRead) {
  vlm::testing::TempDir dir;
  std::filesystem::copy(synth_shards() + "/captions", dir.file("captions"));
  const std::string path = dir.file("captions/shard-000000.h5");
  std::string bytes = files::read_all(path);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  files::write_atomically(path, bytes);
  LoaderOptions options = instruction_options(4);
  options.data.shards = dir.file("captions");
  options.data.chat_template = recipes::Template::kPlain;
  try {
    Loader loader(options, synth_tokenizer());
    for (int call = 0; call < 20; ++call) loader.next();
    ADD_FAILURE() << "the changed shard was read";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("shard-000000.h5 has checksum"), std::string::npos)
        << e.what();
  }
}

TEST(ShardLoader, MissingShardFolderSaysHowToMakeOne) {
  LoaderOptions options = instruction_options(2);
  options.data.shards = "no_such_shards";
  try {
    Loader loader(options, synth_tokenizer());
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_shards/index.json"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("vlm-shard"), std::string::npos) << e.what();
  }
}

TEST(ShardLoader, NeitherOrBothSourcesAreConfigErrors) {
  LoaderOptions options = instruction_options(2);
  options.data.json = kInstructions;
  EXPECT_THROW(Loader(options, synth_tokenizer()), ConfigError);
  options.data.json.clear();
  options.data.shards.clear();
  EXPECT_THROW(Loader(options, synth_tokenizer()), ConfigError);
}

}  // namespace
}  // namespace vlm::data
