#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "data/conversation.h"
#include "data/corpus.h"
#include "data/synth.h"
#include "data/synth_records.h"
#include "data/tokenizer.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/data/fixtures.h"

namespace vlm::data::synth {
namespace {

namespace fs = std::filesystem;
using vlm::testing::synth_corpus_dir;

// Pixels of the shape: the background stays below ~50 in every channel, every palette colour
// has a channel above 200.
bool is_shape_pixel(const uint8_t* pixel) { return *std::max_element(pixel, pixel + 3) > 110; }

struct Seen {
  int position = -1;  // quadrant holding the shape's pixels; -1: none or several
  int colour = -1;    // palette colour nearest to their mean
};

Seen look(const RgbImage& image) {
  int counts[kNumPositions] = {};
  double sum[3] = {};
  int total = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* pixel = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
      if (!is_shape_pixel(pixel)) continue;
      ++counts[(y >= image.height / 2) * 2 + (x >= image.width / 2)];
      for (int c = 0; c < 3; ++c) sum[c] += pixel[c];
      ++total;
    }
  }
  Seen seen;
  if (total == 0) return seen;
  for (int q = 0; q < kNumPositions; ++q) {
    if (counts[q] == total) seen.position = q;
  }
  double best = 1e18;
  for (int colour = 0; colour < kNumColours; ++colour) {
    const auto rgb = colour_rgb(colour);
    double distance = 0;
    for (int c = 0; c < 3; ++c) distance += std::pow(sum[c] / total - rgb[c], 2);
    if (distance < best) best = distance, seen.colour = colour;
  }
  return seen;
}

// The name that occurs in text as whole words ("red" is not in "coloured").
int index_of(const std::string& text, const char* (*name)(int), int count) {
  const std::string padded = " " + text + " ";
  for (int i = 0; i < count; ++i) {
    if (padded.find(" " + std::string(name(i)) + " ") != std::string::npos) return i;
  }
  return -1;
}

RgbImage load(const std::string& path) { return decode_image(files::read_all(path), path); }

std::map<std::string, std::string> all_files(const std::string& root) {
  std::map<std::string, std::string> contents;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      contents[fs::relative(entry.path(), root).string()] = files::read_all(entry.path().string());
    }
  }
  return contents;
}

Options small(const std::string& out, uint64_t seed) {
  Options options;
  options.out_dir = out;
  options.seed = seed;
  options.captions = 12;
  options.instructions = 20;
  options.vora = 10;
  options.eval_images = 3;
  options.threads = 2;
  return options;
}

TEST(Synth, SameSeedGivesByteIdenticalFiles) {
  vlm::testing::TempDir a, b, c;
  generate(small(a.path(), 3));
  Options single_thread = small(b.path(), 3);
  single_thread.threads = 1;
  generate(single_thread);
  generate(small(c.path(), 4));
  const auto files_a = all_files(a.path());
  EXPECT_GT(files_a.size(), 40u);
  EXPECT_EQ(files_a, all_files(b.path()));
  const auto files_c = all_files(c.path());
  EXPECT_NE(files_a.at("llava_v1_5_mix665k.json"), files_c.at("llava_v1_5_mix665k.json"));
}

TEST(Synth, EveryColourShapeAndPositionIsDrawnWhereItsNameSays) {
  for (int colour = 0; colour < kNumColours; ++colour) {
    for (int shape = 0; shape < kNumShapes; ++shape) {
      for (int position = 0; position < kNumPositions; ++position) {
        const Scene scene{
            colour,           shape,
            position,         (colour + shape) % 5 - 2,
            position % 5 - 2, static_cast<uint64_t>(colour * 100 + shape * 10 + position)};
        const Seen seen = look(decode_image(encode_jpeg(draw(scene, 32), 95), "memory"));
        EXPECT_EQ(seen.colour, colour) << colour_name(colour) << " " << shape_name(shape);
        EXPECT_EQ(seen.position, position) << colour_name(colour) << " " << shape_name(shape);
      }
    }
  }
}

TEST(Synth, CaptionsDescribeTheirImages) {
  const auto corpus = read_corpus(synth_corpus_dir() + "/blip_laion_cc_sbu_558k.json");
  ASSERT_EQ(corpus.size(), 48u);
  const std::regex path_form(R"(\d{5}/\d{9}\.jpg)");
  for (const Conversation& record : corpus) {
    ASSERT_EQ(record.images.size(), 1u);
    EXPECT_TRUE(std::regex_match(record.images[0], path_form)) << record.images[0];
    EXPECT_EQ(record.id + ".jpg", record.images[0].substr(6));
    const std::string& caption_text = record.turns.at(1).value;
    const Seen seen = look(load(synth_corpus_dir() + "/images/" + record.images[0]));
    EXPECT_EQ(seen.colour, index_of(caption_text, colour_name, kNumColours)) << caption_text;
    EXPECT_EQ(seen.position, index_of(caption_text, position_name, kNumPositions)) << caption_text;
    EXPECT_GE(index_of(caption_text, shape_name, kNumShapes), 0) << caption_text;
    const std::string& prompt = record.turns.at(0).value;
    EXPECT_TRUE(prompt.rfind("<image>\n", 0) == 0 ||
                (prompt.size() > 8 && prompt.substr(prompt.size() - 8) == "\n<image>"))
        << prompt;
  }
}

TEST(Synth, InstructionAnswersMatchTheirImages) {
  const auto corpus = read_corpus(synth_corpus_dir() + "/llava_v1_5_mix665k.json");
  ASSERT_EQ(corpus.size(), 96u);
  const std::vector<std::string> folders = {"coco/train2017/", "gqa/images/", "ocr_vqa/images/",
                                            "textvqa/train_images/", "vg/VG_100K"};
  int text_only = 0, questions = 0;
  for (const Conversation& record : corpus) {
    EXPECT_NO_THROW(render(record, recipes::Template::kVicunaV1)) << record.id;
    if (record.images.empty()) {
      ++text_only;
      continue;
    }
    const std::string& path = record.images[0];
    EXPECT_TRUE(std::any_of(folders.begin(), folders.end(), [&](const std::string& f) {
      return path.rfind(f, 0) == 0;
    })) << path;
    const Seen seen = look(load(synth_corpus_dir() + "/" + path));
    for (size_t t = 0; t + 1 < record.turns.size(); ++t) {
      if (record.turns[t].from != "human") continue;
      const std::string& question = record.turns[t].value;
      const std::string& reply = record.turns[t + 1].value;
      const bool first = question.find("<image>") != std::string::npos;
      EXPECT_EQ(first, t == 0 || t == 1) << question;
      EXPECT_EQ(
          question.find("Answer the question using a single word or phrase.") != std::string::npos,
          first)
          << question;
      ++questions;
      if (question.find("What colour") != std::string::npos) {
        EXPECT_EQ(reply, colour_name(seen.colour));
      } else if (question.find("Where") != std::string::npos) {
        EXPECT_EQ(reply, position_name(seen.position));
      } else {
        EXPECT_GE(index_of(reply, shape_name, kNumShapes), 0) << reply;
      }
    }
  }
  EXPECT_GT(text_only, 10);   // ratio 0.25 of 96
  EXPECT_GT(questions, 150);  // 3 per image
}

TEST(Synth, SomeInstructionsStartWithAGptTurn) {
  int greetings = 0;
  for (int64_t i = 0; i < 500; ++i) {
    const Record record = instruction_record(1, i, 0.1);
    if (record.conversation.turns.front().from == "gpt") {
      ++greetings;
      EXPECT_NO_THROW(render(record.conversation, recipes::Template::kVicunaV1));
    }
  }
  EXPECT_GT(greetings, 0);
  EXPECT_LT(greetings, 30);
}

TEST(Synth, VoraLinesHaveFramesTextOnlyAndSystemTurns) {
  const std::string text = files::read_all(synth_corpus_dir() + "/vora_30m.jsonl");
  EXPECT_NE(text.find("\"frames\":[]"), std::string::npos);
  const auto corpus = read_corpus(synth_corpus_dir() + "/vora_30m.jsonl");
  ASSERT_EQ(corpus.size(), 40u);
  int with_frames = 0, system_turns = 0;
  for (const Conversation& record : corpus) {
    EXPECT_NO_THROW(render(record, recipes::Template::kQwen2)) << record.id;
    system_turns += record.turns.front().from == "system";
    if (record.images.empty()) continue;
    ++with_frames;
    EXPECT_EQ(record.images[0], "frames/" + record.id.substr(5) + ".jpg");
    const Seen seen = look(load(synth_corpus_dir() + "/" + record.images[0]));
    EXPECT_EQ(seen.colour, index_of(record.turns.back().value, colour_name, kNumColours));
  }
  EXPECT_GT(with_frames, 20);
  EXPECT_LT(with_frames, 40);
  EXPECT_GT(system_turns, 0);
}

TEST(Synth, EvalImagesAreHeldOutAndAskedThreeQuestions) {
  const std::string root = synth_corpus_dir();
  const auto eval = read_corpus(root + "/eval/questions.json");
  ASSERT_EQ(eval.size(), 18u);
  std::map<std::string, std::set<std::string>> categories;
  for (const Conversation& record : eval) {
    ASSERT_EQ(record.images.size(), 1u);
    ASSERT_EQ(record.turns.size(), 2u);
    categories[record.images[0]].insert(record.category);
    const Seen seen = look(load(root + "/" + record.images[0]));
    if (record.category == "colour") {
      EXPECT_EQ(record.turns[1].value, colour_name(seen.colour));
    } else if (record.category == "position") {
      EXPECT_EQ(record.turns[1].value, position_name(seen.position));
    }
  }
  ASSERT_EQ(categories.size(), 6u);
  for (const auto& [image, asked] : categories) {
    EXPECT_EQ(asked, (std::set<std::string>{"colour", "shape", "position"})) << image;
  }
  std::set<uint64_t> training;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.find("/eval/") == std::string::npos &&
        entry.path().extension() == ".jpg") {
      training.insert(files::fnv1a64(files::read_all(path)));
    }
  }
  EXPECT_GT(training.size(), 100u);
  for (const auto& [image, asked] : categories) {
    EXPECT_EQ(training.count(files::fnv1a64(files::read_all(root + "/" + image))), 0u) << image;
  }
}

TEST(Synth, TokenizerMakesTheCorpusWordsSinglePiecesWithoutUnknowns) {
  const auto tokenizer = load_sentencepiece(synth_corpus_dir() + "/tokenizer.model");
  EXPECT_LE(tokenizer->vocab_size(), 320);  // Options::vocab_size; nothing is added
  for (int i = 0; i < kNumColours; ++i) EXPECT_EQ(tokenizer->encode(colour_name(i)).size(), 1u);
  for (int i = 0; i < kNumShapes; ++i) EXPECT_EQ(tokenizer->encode(shape_name(i)).size(), 1u);
  for (int i = 0; i < kNumPositions; ++i) EXPECT_EQ(tokenizer->encode(position_name(i)).size(), 2u);
  EXPECT_GE(tokenizer->special_id("<|im_start|>"), 0);
  const std::pair<const char*, recipes::Template> uses[] = {
      {"blip_laion_cc_sbu_558k.json", recipes::Template::kPlain},
      {"llava_v1_5_mix665k.json", recipes::Template::kVicunaV1},
      {"llava_v1_5_mix665k.json", recipes::Template::kQwen2},
      {"vora_30m.jsonl", recipes::Template::kQwen2}};
  for (const auto& [file, chat_template] : uses) {
    for (const Conversation& record : read_corpus(synth_corpus_dir() + "/" + file)) {
      const TokenizedSample sample = tokenize(render(record, chat_template), *tokenizer, 16, 0);
      for (const int32_t id : sample.input_ids)
        ASSERT_NE(id, 0) << "unknown piece in " << record.id;
    }
  }
}

TEST(Synth, SettingsFileRecordsCounts) {
  const std::string text = files::read_all(synth_corpus_dir() + "/synth.json");
  EXPECT_NE(text.find("\"seed\": 7"), std::string::npos);
  EXPECT_NE(text.find("\"captions\": 48"), std::string::npos);
  EXPECT_NE(text.find("\"eval_questions\": 18"), std::string::npos);
}

TEST(Synth, BadOptionsAreConfigErrors) {
  vlm::testing::TempDir dir;
  Options options = small(dir.path(), 1);
  options.text_only_ratio = 1.5;
  EXPECT_THROW(generate(options), ConfigError);
  options = small("", 1);
  EXPECT_THROW(generate(options), ConfigError);
}

}  // namespace
}  // namespace vlm::data::synth
