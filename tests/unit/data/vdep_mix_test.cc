// VDEP's exact split (data/vdep_mix.h): every global batch holds exactly round(B r / (1 + r))
// VDEP-mode rows whatever the world size and micro batch, each mode reads the corpus once a
// pass, resume lands on the same rows, and VDEP rows carry no labels (the text and image terms
// come from disjoint rows). The split's rule is also recomputed in Python by
// tests/reference/vdep_split.py (tests/e2e/test_vdep_split_reference.sh).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "data/conversation.h"
#include "data/loader.h"
#include "data/vdep_mix.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data {
namespace {

using vlm::testing::synth_corpus_dir;

std::shared_ptr<const Tokenizer> vdep_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer =
      load_sentencepiece(synth_corpus_dir() + "/tokenizer.model", {"<auto_image>"});
  return tokenizer;
}

LoaderOptions caption_options(int64_t global_batch, int64_t micro, int64_t world) {
  LoaderOptions options;
  options.data.corpus_dir = synth_corpus_dir();
  options.data.json = "blip_laion_cc_sbu_558k.json";
  options.data.image_root = "images";
  options.data.chat_template = recipes::Template::kPlain;
  options.data.loader_threads = 1;
  options.data.prefetch_batches = 2;
  options.seed = 11;
  options.image_size = 32;
  options.image_tokens = 16;
  options.batch_size = micro;
  options.world_size = world;
  options.global_batch_size = global_batch;
  options.vdep_ratio = 1.0;
  return options;
}

struct Row {
  std::string id;
  bool vdep = false;
  int64_t labels = 0;  // labelled tokens the loss predicts (positions >= 1)

  bool operator==(const Row& other) const {
    return std::tie(id, vdep, labels) == std::tie(other.id, other.vdep, other.labels);
  }
};

// The rows of `steps` global batches, by global position, read by `world` ranks in micro batches
// of `micro`, starting at global batch `first_step`.
std::map<int64_t, Row> global_rows(LoaderOptions options, int64_t micro, int64_t world,
                                   int64_t steps, int64_t first_step = 0) {
  options.batch_size = micro;
  options.world_size = world;
  const int64_t calls = steps * options.global_batch_size / (micro * world);
  std::map<int64_t, Row> rows;
  for (int64_t rank = 0; rank < world; ++rank) {
    options.rank = rank;
    Loader loader(options, vdep_tokenizer());
    loader.seek(first_step * options.global_batch_size);
    for (int64_t call = 0; call < calls; ++call) {
      const Batch batch = loader.next();
      for (int64_t row = 0; row < batch.batch_size; ++row) {
        Row out;
        out.id = batch.sample_ids[static_cast<size_t>(row)];
        out.vdep = batch.vdep_rows[static_cast<size_t>(row)] != 0;
        for (int64_t t = 1; t < batch.seq_len; ++t) {
          out.labels += batch.labels[static_cast<size_t>(row * batch.seq_len + t)] != kIgnoreLabel;
        }
        EXPECT_TRUE(rows.emplace(batch.positions[static_cast<size_t>(row)], out).second);
      }
    }
  }
  return rows;
}

TEST(VdepMix, EveryGlobalBatchHasExactlyItsShareOfVdepRows) {
  for (const int64_t batch : {2, 6, 8, 12, 64, 256}) {
    for (const double ratio : {1.0, 0.8, 0.5, 2.0}) {
      const int64_t expected = VdepMix::vdep_rows(batch, ratio);
      if (expected < 1 || expected >= batch) continue;
      VdepMix mix(3, 37, batch, ratio);
      ASSERT_EQ(mix.vdep_rows_per_batch(), expected);
      for (int64_t b = 0; b < 20; ++b) {
        int64_t vdep = 0;
        for (int64_t s = 0; s < batch; ++s) vdep += mix.at(b * batch + s).vdep ? 1 : 0;
        EXPECT_EQ(vdep, expected) << "batch " << b << " of " << batch << ", ratio " << ratio;
      }
    }
  }
  EXPECT_EQ(VdepMix::vdep_rows(256, 1.0), 128);
  EXPECT_EQ(VdepMix::vdep_rows(5, 1.0), 3);            // 2.5 rounds up
  EXPECT_EQ(VdepMix::vdep_rows(10, 0.8), 4);           // 4.44
  EXPECT_EQ(VdepMix::vdep_rows(256, 0.5), 85);         // 85.33
  EXPECT_THROW(VdepMix(3, 37, 1, 1.0), ConfigError);   // no LLaVA row left
  EXPECT_THROW(VdepMix(3, 37, 4, 0.05), ConfigError);  // no VDEP row
}

// "We double the input data": over an epoch (2N positions at ratio 1) each sample comes once in
// each mode; the roles sit at different slots from batch to batch.
TEST(VdepMix, EachSampleVisitsEachModeOncePerEpoch) {
  const int64_t samples = 40;
  VdepMix mix(9, samples, 8, 1.0);
  ASSERT_EQ(mix.samples_per_epoch(), 2 * samples);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::map<int64_t, int> vdep, llava;
    std::set<std::vector<bool>> layouts;
    for (int64_t b = 0; b < mix.samples_per_epoch() / 8; ++b) {
      std::vector<bool> layout;
      for (int64_t s = 0; s < 8; ++s) {
        const MixedSample row = mix.at(epoch * mix.samples_per_epoch() + b * 8 + s);
        ++(row.vdep ? vdep : llava)[row.sample];
        layout.push_back(row.vdep);
      }
      layouts.insert(layout);
    }
    ASSERT_EQ(static_cast<int64_t>(vdep.size()), samples);
    ASSERT_EQ(static_cast<int64_t>(llava.size()), samples);
    for (const auto& [sample, count] : vdep) EXPECT_EQ(count, 1) << sample;
    for (const auto& [sample, count] : llava) EXPECT_EQ(count, 1) << sample;
    EXPECT_GT(layouts.size(), 1u);
  }
  // Another pass is another order; the two modes' orders differ too.
  std::vector<int64_t> first, second, vdep_first;
  for (int64_t b = 0; b < 10; ++b) {
    for (int64_t s = 0; s < 8; ++s) {
      const MixedSample a = mix.at(b * 8 + s);
      const MixedSample c = mix.at(mix.samples_per_epoch() + b * 8 + s);
      if (!a.vdep) first.push_back(a.sample);
      if (!c.vdep) second.push_back(c.sample);
      if (a.vdep) vdep_first.push_back(a.sample);
    }
  }
  EXPECT_NE(first, second);
  EXPECT_NE(first, vdep_first);
}

// The loader's global stream: the same rows at the same positions for any world size and micro
// batch, exactly half of every global batch in VDEP mode, VDEP rows without labels and LLaVA
// rows with them; a loader that seeks (resume) reads the same rows as one that kept going.
TEST(VdepMix, LoaderSplitIsTheSameForAnyWorldSizeAndResume) {
  for (const int64_t global_batch : {6, 12}) {
    const LoaderOptions options = caption_options(global_batch, global_batch, 1);
    // Past the first pass over the 48 captions in each mode.
    const int64_t steps = 2 + 96 / global_batch;
    const std::map<int64_t, Row> reference = global_rows(options, global_batch, 1, steps);
    ASSERT_EQ(static_cast<int64_t>(reference.size()), steps * global_batch);
    for (int64_t b = 0; b < steps; ++b) {
      int64_t vdep = 0;
      for (int64_t s = 0; s < global_batch; ++s) {
        const Row& row = reference.at(b * global_batch + s);
        vdep += row.vdep ? 1 : 0;
        if (row.vdep) {
          EXPECT_EQ(row.labels, 0) << row.id;
        } else {
          EXPECT_GT(row.labels, 0) << row.id;
        }
      }
      EXPECT_EQ(vdep, global_batch / 2) << "global batch " << b;
    }
    for (const auto& [micro, world] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 2}, {3, 2}, {2, 3}, {1, 3}, {global_batch / 2, 2}}) {
      if (global_batch % (micro * world) != 0) continue;
      EXPECT_TRUE(global_rows(options, micro, world, steps) == reference)
          << "micro " << micro << " x " << world << " ranks, global batch " << global_batch;
    }
    const std::map<int64_t, Row> resumed = global_rows(options, 1, 2, 4, /*first_step=*/5);
    for (const auto& [position, row] : resumed) EXPECT_TRUE(row == reference.at(position));
  }
}

// The form before issue 19, kept as vdep.split shuffled + vdep.text_loss_on_vdep_rows: VDEP rows
// keep their caption labels and the VDEP count varies from batch to batch.
TEST(VdepMix, ShuffledSplitKeepsTheOldForm) {
  LoaderOptions options = caption_options(8, 8, 1);
  options.vdep_split = recipes::VdepSplit::kShuffled;
  options.vdep_text_loss = true;
  const std::map<int64_t, Row> rows = global_rows(options, 8, 1, 12);
  std::set<int64_t> counts;
  for (int64_t b = 0; b < 12; ++b) {
    int64_t vdep = 0;
    for (int64_t s = 0; s < 8; ++s) {
      const Row& row = rows.at(b * 8 + s);
      vdep += row.vdep ? 1 : 0;
      EXPECT_GT(row.labels, 0) << row.id;
    }
    counts.insert(vdep);
  }
  EXPECT_GT(counts.size(), 1u);
  // Exact split with the text loss on VDEP rows: half the rows VDEP, all labelled.
  options.vdep_split = recipes::VdepSplit::kExact;
  for (const auto& [position, row] : global_rows(options, 8, 1, 3)) {
    EXPECT_GT(row.labels, 0) << row.id;
  }
}

TEST(VdepMix, ExactSplitRefusesAnotherSampler) {
  LoaderOptions options = caption_options(8, 8, 1);
  options.data.sampler = recipes::SamplerKind::kModalityLength;
  EXPECT_THROW(Loader(options, vdep_tokenizer()), ConfigError);
  options = caption_options(8, 8, 1);
  options.vdep_ratio = 0.05;  // round(8 x 0.05 / 1.05) = 0 VDEP rows
  EXPECT_THROW(Loader(options, vdep_tokenizer()), ConfigError);
}

}  // namespace
}  // namespace vlm::data
