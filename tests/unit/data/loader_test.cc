#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "data/conversation.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data {
namespace {

using vlm::testing::synth_corpus_dir;

constexpr int64_t kImageTokens = 16;
constexpr char kInstructions[] = "llava_v1_5_mix665k.json";

std::shared_ptr<const Tokenizer> synth_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer =
      load_sentencepiece(synth_corpus_dir() + "/tokenizer.model");
  return tokenizer;
}

// What a vdep stage trains with: the corpus tokenizer plus <auto_image>.
std::shared_ptr<const Tokenizer> vdep_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer =
      load_sentencepiece(synth_corpus_dir() + "/tokenizer.model", {"<auto_image>"});
  return tokenizer;
}

LoaderOptions instruction_options(int64_t batch, int64_t rank = 0, int64_t world = 1) {
  LoaderOptions options;
  options.data.corpus_dir = synth_corpus_dir();
  options.data.json = kInstructions;
  options.data.chat_template = recipes::Template::kVicunaV1;
  options.data.image_aspect = recipes::ImageAspect::kPad;
  options.data.loader_threads = 1;
  options.data.prefetch_batches = 2;
  options.seed = 5;
  options.image_size = 32;
  options.image_tokens = kImageTokens;
  options.batch_size = batch;
  options.rank = rank;
  options.world_size = world;
  return options;
}

// The global stream of sample ids that `world` ranks read together in `calls` calls each.
std::vector<std::string> stream(LoaderOptions options, int64_t world, int calls) {
  std::vector<std::unique_ptr<Loader>> loaders;
  for (int64_t rank = 0; rank < world; ++rank) {
    options.rank = rank;
    options.world_size = world;
    loaders.push_back(std::make_unique<Loader>(options, synth_tokenizer()));
  }
  std::vector<std::string> ids;
  for (int call = 0; call < calls; ++call) {
    for (auto& loader : loaders) {
      const Batch batch = loader->next();
      ids.insert(ids.end(), batch.sample_ids.begin(), batch.sample_ids.end());
    }
  }
  return ids;
}

std::multiset<std::string> corpus_ids(const std::string& json) {
  std::multiset<std::string> ids;
  for (const auto& conversation : read_corpus(synth_corpus_dir() + "/" + json)) {
    ids.insert(conversation.id);
  }
  return ids;
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.sample_ids, b.sample_ids);
  EXPECT_EQ(a.seq_len, b.seq_len);
  EXPECT_EQ(a.input_ids, b.input_ids);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.lengths, b.lengths);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.num_images, b.num_images);
  EXPECT_EQ(a.label_tokens, b.label_tokens);
  ASSERT_EQ(a.image_spans.size(), b.image_spans.size());
  for (size_t i = 0; i < a.image_spans.size(); ++i) {
    EXPECT_EQ(a.image_spans[i].sample, b.image_spans[i].sample);
    EXPECT_EQ(a.image_spans[i].start, b.image_spans[i].start);
  }
}

TEST(Loader, SameSeedSameBatchesWhateverTheThreads) {
  std::vector<std::vector<Batch>> runs;
  for (const auto& [threads, prefetch] : std::vector<std::pair<int, int>>{{0, 1}, {1, 2}, {3, 4}}) {
    LoaderOptions options = instruction_options(8);
    options.data.loader_threads = threads;
    options.data.prefetch_batches = prefetch;
    Loader loader(options, synth_tokenizer());
    runs.emplace_back();
    for (int call = 0; call < 15; ++call) runs.back().push_back(loader.next());
  }
  for (size_t run = 1; run < runs.size(); ++run) {
    for (size_t call = 0; call < runs[0].size(); ++call)
      expect_same(runs[run][call], runs[0][call]);
  }
  LoaderOptions other_seed = instruction_options(8);
  other_seed.seed = 6;
  EXPECT_NE(Loader(other_seed, synth_tokenizer()).next().sample_ids, runs[0][0].sample_ids);
}

TEST(Loader, AnyWorldSizeWalksTheSameStreamAndCoversEachSampleOncePerEpoch) {
  const auto all = corpus_ids(kInstructions);
  const std::vector<std::string> single = stream(instruction_options(6), 1, 20);
  ASSERT_EQ(single.size(), 120u);
  const std::multiset<std::string> first_epoch(single.begin(), single.begin() + all.size());
  EXPECT_EQ(first_epoch, all);
  EXPECT_EQ(stream(instruction_options(3), 2, 20), single);
  EXPECT_EQ(stream(instruction_options(2), 3, 20), single);
  const auto uneven = stream(instruction_options(4), 3, 10);
  EXPECT_TRUE(std::equal(uneven.begin(), uneven.end(), single.begin()));
  // The next epoch is another permutation of the corpus.
  const auto two_epochs = stream(instruction_options(6), 1, 32);
  const std::multiset<std::string> second_epoch(two_epochs.begin() + all.size(), two_epochs.end());
  EXPECT_EQ(second_epoch, all);
  EXPECT_FALSE(std::equal(two_epochs.begin(), two_epochs.begin() + all.size(),
                          two_epochs.begin() + all.size()));
}

TEST(Loader, SeekResumesTheSameStream) {
  LoaderOptions options = instruction_options(4, 1, 2);
  Loader reader(options, synth_tokenizer());
  std::vector<Batch> batches;
  for (int call = 0; call < 30; ++call) batches.push_back(reader.next());
  Loader resumed(options, synth_tokenizer());
  resumed.seek(17 * 2 * 4);  // after 17 calls of both ranks
  for (int call = 17; call < 30; ++call) expect_same(resumed.next(), batches[call]);
  reader.seek(0);
  for (int call = 0; call < 3; ++call) expect_same(reader.next(), batches[call]);
}

TEST(Loader, BatchArraysAreConsistent) {
  LoaderOptions options = instruction_options(8);
  Loader loader(options, synth_tokenizer());
  const auto tokenizer = synth_tokenizer();
  for (int call = 0; call < 12; ++call) {
    const Batch batch = loader.next();
    const auto cells = static_cast<size_t>(batch.batch_size * batch.seq_len);
    ASSERT_EQ(batch.batch_size, 8);
    ASSERT_EQ(batch.input_ids.size(), cells);
    ASSERT_EQ(batch.labels.size(), cells);
    ASSERT_EQ(batch.lengths.size(), 8u);
    ASSERT_EQ(batch.sample_ids.size(), 8u);
    ASSERT_EQ(batch.image_spans.size(), static_cast<size_t>(batch.num_images));
    ASSERT_EQ(batch.pixels.size(), static_cast<size_t>(batch.num_images * 3 * 32 * 32));
    EXPECT_EQ(batch.image_size, 32);
    EXPECT_EQ(*std::max_element(batch.lengths.begin(), batch.lengths.end()), batch.seq_len);
    int64_t label_tokens = 0;
    std::vector<int64_t> image_slots(8, 0);
    for (int64_t row = 0; row < 8; ++row) {
      const int64_t* ids = &batch.input_ids[row * batch.seq_len];
      const int64_t* labels = &batch.labels[row * batch.seq_len];
      EXPECT_EQ(ids[0], tokenizer->bos_id());
      for (int64_t t = 0; t < batch.seq_len; ++t) {
        if (t >= batch.lengths[row]) {
          EXPECT_EQ(ids[t], tokenizer->pad_id());
          EXPECT_EQ(labels[t], kIgnoreLabel);
        }
        if (ids[t] == kImageToken) ++image_slots[row];
        if (t >= 1 && labels[t] != kIgnoreLabel) {
          ++label_tokens;
          EXPECT_EQ(labels[t], ids[t]);
        }
      }
    }
    EXPECT_EQ(batch.label_tokens, label_tokens);
    std::vector<int64_t> span_slots(8, 0);
    for (const ImageSpan& span : batch.image_spans) {
      EXPECT_EQ(span.length, kImageTokens);
      span_slots[span.sample] += span.length;
      for (int64_t t = span.start; t < span.start + span.length; ++t) {
        EXPECT_EQ(batch.input_ids[span.sample * batch.seq_len + t], kImageToken);
        EXPECT_EQ(batch.labels[span.sample * batch.seq_len + t], kIgnoreLabel);
      }
    }
    EXPECT_EQ(span_slots, image_slots);
    for (const float value : batch.pixels) {
      EXPECT_TRUE(value > -1.8f && value < 2.2f) << value;
    }
  }
}

// LLaVA's group_by_modality_length: every global batch holds one modality, except the epoch's
// last one or two, which hold each modality's leftover megabatch; each sample once an epoch.
TEST(Loader, ModalityLengthBatchesArePureUntilTheEpochsTail) {
  for (const int64_t global : {0, 12}) {
    LoaderOptions options = instruction_options(3);
    options.data.sampler = recipes::SamplerKind::kModalityLength;
    options.global_batch_size = global;
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int64_t rank = 0; rank < 2; ++rank) {
      options.rank = rank;
      options.world_size = 2;
      ranks.push_back(std::make_unique<Loader>(options, synth_tokenizer()));
    }
    const int64_t per_epoch = ranks[0]->samples_per_epoch();
    const auto all = corpus_ids(kInstructions);
    EXPECT_EQ(per_epoch, static_cast<int64_t>(all.size()));
    const int64_t group = global ? global : 6;
    // The tail (two leftover megabatches) starts within the last 2 x group samples.
    const int64_t pure_calls = (per_epoch - 2 * group) / 6;
    std::multiset<std::string> seen;
    int pure_batches = 0;
    for (int64_t call = 0; call < per_epoch / 6; ++call) {
      for (auto& rank : ranks) {
        const Batch batch = rank->next();
        if (call < pure_calls) {
          EXPECT_TRUE(batch.num_images == 0 || batch.num_images == batch.batch_size)
              << "mixed batch at call " << call << ": " << batch.num_images << " images";
          ++pure_batches;
        }
        seen.insert(batch.sample_ids.begin(), batch.sample_ids.end());
      }
    }
    EXPECT_GT(pure_batches, 0);
    for (const std::string& id : all) EXPECT_LE(seen.count(id), 1u) << id;  // none repeated
    EXPECT_GE(seen.size() + 5, all.size());  // all but the last call's remainder
  }
}

TEST(Loader, ReadsEveryCorpusOfTheGenerator) {
  struct Case {
    const char* json;
    const char* image_root;
    recipes::Template chat_template;
  };
  for (const Case& c : {Case{"blip_laion_cc_sbu_558k.json", "images", recipes::Template::kPlain},
                        Case{"vora_30m.jsonl", "", recipes::Template::kQwen2},
                        Case{"eval/questions.json", "", recipes::Template::kVicunaV1}}) {
    LoaderOptions options = instruction_options(5);
    options.data.json = c.json;
    options.data.image_root = c.image_root;
    options.data.chat_template = c.chat_template;
    Loader loader(options, synth_tokenizer());
    for (int call = 0; call < 4; ++call) {
      const Batch batch = loader.next();
      EXPECT_EQ(batch.batch_size, 5) << c.json;
      EXPECT_GT(batch.label_tokens, 0) << c.json;
    }
  }
}

TEST(Loader, TruncatesToMaxSeqLen) {
  LoaderOptions options = instruction_options(8);
  options.data.max_seq_len = 80;
  Loader loader(options, synth_tokenizer());
  for (int call = 0; call < 5; ++call) EXPECT_LE(loader.next().seq_len, 80);
}

TEST(Loader, MissingCorpusSaysHowToMakeOne) {
  LoaderOptions options = instruction_options(2);
  options.data.json = "missing.json";
  try {
    Loader loader(options, synth_tokenizer());
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("vlm-synth --out <dir>"), std::string::npos) << e.what();
  }
}

// A missing image used to end the run from next(); like an undecodable one (and as vlm-shard
// skips it), its sample now keeps its slot, leaves the loss and is counted (issue 18).
TEST(Loader, MissingAndUndecodableImagesAreLeftOutOfTheLoss) {
  vlm::testing::TempDir dir;
  std::ofstream(dir.file("corrupt.jpg")) << "not a jpeg";
  std::ofstream(dir.file("bad.json")) << R"([
    {"id": "gone", "image": "missing.jpg", "conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "red"}]},
    {"id": "broken", "image": "corrupt.jpg", "conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "red"}]}
  ])";
  LoaderOptions options = instruction_options(1);
  options.data.corpus_dir = dir.path();
  options.data.json = "bad.json";
  options.data.sampler = recipes::SamplerKind::kRandom;
  Loader loader(options, synth_tokenizer());
  std::set<std::string> seen;
  for (int call = 0; call < 2; ++call) {
    const Batch batch = loader.next();
    ASSERT_EQ(batch.sample_ids.size(), 1u);
    seen.insert(batch.sample_ids[0]);
    EXPECT_EQ(batch.label_tokens, 0);
    EXPECT_EQ(batch.num_images, 1);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"gone", "broken"}));
  EXPECT_EQ(loader.stats().undecodable_samples, 2);
}

// Issue 18's hostile corpus: a record whose answer is 5 MB of one character the tokenizer does
// not know held a loader thread for over ten minutes (SentencePiece merges an unknown run in
// quadratic time; 1.6 MB took 104 s). Text over the cap is never tokenized: the sample keeps its
// slot and its image, leaves the loss and is counted; the record beside it trains.
TEST(Loader, TextOverTheCapIsLeftOutOfTheLossUntokenized) {
  vlm::testing::TempDir dir;
  const std::string huge(2'000'000, '~');
  std::ofstream(dir.file("long.json")) << R"([
    {"id": "long", "image": "images/00000/000000000.jpg", "conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": ")"
                                       << huge << R"("}]},
    {"id": "short", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "red"}]}
  ])";
  LoaderOptions options = instruction_options(2);
  options.data.corpus_dir = dir.path();
  options.data.json = "long.json";
  options.data.sampler = recipes::SamplerKind::kRandom;
  options.data.max_seq_len = 80;
  std::filesystem::create_directories(dir.file("images/00000"));
  const std::string any_image =
      synth_corpus_dir() + "/images/00000/" +
      std::filesystem::directory_iterator(synth_corpus_dir() + "/images/00000")
          ->path()
          .filename()
          .string();
  std::filesystem::copy_file(any_image, dir.file("images/00000/000000000.jpg"));
  Loader loader(options, synth_tokenizer());
  const Batch batch = loader.next();
  ASSERT_EQ(batch.sample_ids.size(), 2u);
  EXPECT_EQ(batch.num_images, 1);
  EXPECT_GT(batch.label_tokens, 0);  // the short record's answer
  for (int64_t row = 0; row < 2; ++row) {
    const auto labels = batch.labels.begin() + row * batch.seq_len;
    const bool any_label = std::any_of(labels, labels + batch.seq_len,
                                       [](int64_t label) { return label != kIgnoreLabel; });
    EXPECT_EQ(any_label, batch.sample_ids[static_cast<size_t>(row)] == "short");
  }
  EXPECT_EQ(loader.stats().undecodable_samples, 1);
}

// Training from JSON reads record by record: a record that does not parse, has invalid UTF-8,
// does not render or is over data.max_record_bytes keeps its slot, leaves the loss and is
// counted; the others train (they made the whole corpus fail before).
TEST(Loader, MalformedRecordsAreLeftOutOfTheLossNotFatal) {
  vlm::testing::TempDir dir;
  const std::string good =
      R"({"id": "ok", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "red"}]})";
  std::ofstream(dir.file("bad.jsonl"))
      << good << "\n"
      << R"({"id": "odd", "conversations": [{"from": "human", "value": "Hi"}, {"from": "human", "value": "again"}]})"
      << "\n"
      << R"({"id": "latin", "conversations": [{"from": "human", "value": "caf)" << '\xe9'
      << R"("}, {"from": "gpt", "value": "x"}]})"
      << "\n"
      << R"({"id": "cut", "conversations": [)"
      << "\n"
      << R"({"id": "long", "conversations": [{"from": "human", "value": ")"
      << std::string(5000, 'a') << R"("}, {"from": "gpt", "value": "x"}]})"
      << "\n";
  LoaderOptions options = instruction_options(5);
  options.data.corpus_dir = dir.path();
  options.data.json = "bad.jsonl";
  options.data.sampler = recipes::SamplerKind::kRandom;
  options.data.max_record_bytes = 4096;
  Loader loader(options, synth_tokenizer());
  const Batch batch = loader.next();
  ASSERT_EQ(batch.sample_ids.size(), 5u);
  for (int64_t row = 0; row < 5; ++row) {
    const auto labels = batch.labels.begin() + row * batch.seq_len;
    const bool any_label = std::any_of(labels, labels + batch.seq_len,
                                       [](int64_t label) { return label != kIgnoreLabel; });
    EXPECT_EQ(any_label, batch.sample_ids[static_cast<size_t>(row)] == "ok") << row;
  }
  EXPECT_EQ(loader.stats().undecodable_samples, 4);
}

TEST(Loader, BadOptionsAreConfigErrors) {
  const auto expect_config_error = [](LoaderOptions options) {
    EXPECT_THROW(Loader(options, synth_tokenizer()), ConfigError);
  };
  LoaderOptions options = instruction_options(4, 0, 2);
  options.global_batch_size = 12;  // not a multiple of 4 x 2
  expect_config_error(options);
  options = instruction_options(2);
  options.image_tokens = 0;
  expect_config_error(options);
}

// VDEP: an epoch reads every caption once in LLaVA mode and once in VDEP mode, the two mixed in
// each batch; a VDEP-mode row has "<auto_image>" (unlabelled) right before its image.
TEST(Loader, VdepReadsEachCaptionOnceInEachModeAndMarksItsImages) {
  LoaderOptions options = instruction_options(8);
  options.data.json = "blip_laion_cc_sbu_558k.json";
  options.data.image_root = "images";
  options.data.chat_template = recipes::Template::kPlain;
  options.data.image_aspect = recipes::ImageAspect::kSquare;
  const int64_t captions = Loader(options, synth_tokenizer()).samples_per_epoch();
  options.vdep_ratio = 1.0;
  // Without <auto_image> in the tokenizer, VDEP mode cannot mark its images.
  EXPECT_THROW(Loader(options, synth_tokenizer()), ConfigError);
  Loader loader(options, vdep_tokenizer());
  ASSERT_EQ(loader.samples_per_epoch(), 2 * captions);
  const int32_t auto_image = vdep_tokenizer()->special_id("<auto_image>");
  EXPECT_EQ(auto_image, synth_tokenizer()->vocab_size());
  std::map<std::string, int> vdep_reads, llava_reads;
  int mixed_batches = 0;
  for (int64_t read = 0; read < 2 * captions; read += 8) {
    const Batch batch = loader.next();
    ASSERT_EQ(batch.vdep_rows.size(), 8u);
    int vdep_in_batch = 0;
    for (const ImageSpan& span : batch.image_spans) {
      const auto row = static_cast<size_t>(span.sample);
      const size_t before = row * static_cast<size_t>(batch.seq_len) + span.start - 1;
      const bool vdep = batch.vdep_rows[row] != 0;
      EXPECT_EQ(batch.input_ids[before] == auto_image, vdep) << batch.sample_ids[row];
      if (vdep) {
        EXPECT_EQ(batch.labels[before], kIgnoreLabel);
      }
    }
    for (size_t row = 0; row < 8; ++row) {
      const bool vdep = batch.vdep_rows[row] != 0;
      ++(vdep ? vdep_reads : llava_reads)[batch.sample_ids[row]];
      vdep_in_batch += vdep ? 1 : 0;
    }
    mixed_batches += vdep_in_batch > 0 && vdep_in_batch < 8 ? 1 : 0;
  }
  EXPECT_EQ(static_cast<int64_t>(vdep_reads.size()), captions);
  EXPECT_EQ(vdep_reads, llava_reads);  // every caption once in each mode
  for (const auto& [id, reads] : vdep_reads) EXPECT_EQ(reads, 1) << id;
  EXPECT_GT(mixed_batches, 0);
}

// VoRA's mixture: each global batch holds the recipe's share of text-only samples, whatever
// share the corpus has, and every image sample comes once an epoch.
TEST(Loader, TextOnlyFractionFixesEachBatchsMixture) {
  LoaderOptions options = instruction_options(2, 0, 2);
  options.data.json = "vora_30m.jsonl";
  options.data.chat_template = recipes::Template::kQwen2;
  options.data.image_aspect = recipes::ImageAspect::kSquare;
  options.data.text_only_fraction = 0.5;
  options.global_batch_size = 8;
  std::vector<std::unique_ptr<Loader>> ranks;
  for (int64_t rank = 0; rank < 2; ++rank) {
    options.rank = rank;
    ranks.push_back(std::make_unique<Loader>(options, synth_tokenizer()));
  }
  const int64_t epoch = ranks[0]->samples_per_epoch();
  ASSERT_GT(epoch, 0);
  ASSERT_EQ(epoch % 8, 0);
  std::set<std::string> image_samples;
  for (int64_t step = 0; step < epoch / 8; ++step) {
    int64_t text_only = 0;
    for (int call = 0; call < 2; ++call) {  // 2 micro batches per rank make a global batch
      for (auto& rank : ranks) {
        const Batch batch = rank->next();
        std::vector<int> images_in_row(2, 0);
        for (const ImageSpan& span : batch.image_spans) ++images_in_row[span.sample];
        for (size_t row = 0; row < 2; ++row) {
          if (images_in_row[row] == 0) {
            ++text_only;
          } else {
            EXPECT_TRUE(image_samples.insert(batch.sample_ids[row]).second) << "twice in an epoch";
          }
        }
      }
    }
    EXPECT_EQ(text_only, 4) << "global batch " << step;
  }
  options.data.sampler = recipes::SamplerKind::kModalityLength;
  EXPECT_THROW(Loader(options, synth_tokenizer()), ConfigError);
}

TEST(Loader, ResolveUsesTheCorpusDir) {
  recipes::DataSection data;
  data.corpus_dir = "/data/corpus";
  EXPECT_EQ(resolve(data, "tokenizer.model"), "/data/corpus/tokenizer.model");
  EXPECT_EQ(resolve(data, "/abs/file.json"), "/abs/file.json");
  data.corpus_dir.clear();
  EXPECT_EQ(resolve(data, "rel/file.json"), "rel/file.json");
}

}  // namespace
}  // namespace vlm::data
