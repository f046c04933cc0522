#include "data/synth_records.h"

#include <cstdio>

#include "data/rng.h"

namespace vlm::data::synth {
namespace {

constexpr char kShortAnswer[] = "\nAnswer the question using a single word or phrase.";
constexpr const char* kCaptionPrompts[] = {"Describe the image briefly.",
                                           "Give a short caption for the image.",
                                           "What is in the picture?", "Summarize the picture."};
constexpr const char* kVoraPrompts[] = {"Describe the image.", "What is in the picture?"};
constexpr const char* kVoraSystems[] = {"You are a helpful assistant.",
                                        "You describe pictures in a few words."};
constexpr char kGreeting[] = "Hello! Ask me about the picture.";

enum Category { kColour, kShape, kPosition };
constexpr const char* kCategoryNames[] = {"colour", "shape", "position"};
constexpr const char* kQuestions[] = {"What colour is the shape?", "Which shape is shown?",
                                      "Where is the shape?"};

std::string answer(const Scene& scene, int category) {
  switch (category) {
    case kColour:
      return colour_name(scene.colour);
    case kShape:
      return shape_name(scene.shape);
    default:
      return position_name(scene.position);
  }
}

std::string format(const char* pattern, long long value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), pattern, value);
  return buffer;
}

// A question the text alone answers, so text-only samples are learnable too.
std::pair<std::string, std::string> text_question(Rng& rng) {
  static const char* kOpposites[][2] = {
      {"left", "right"}, {"right", "left"}, {"top", "bottom"}, {"bottom", "top"}};
  static const char* kCorners[][2] = {
      {"square", "four"}, {"triangle", "three"}, {"star", "ten"}, {"circle", "none"}};
  switch (rng.below(3)) {
    case 0: {
      const auto& pair = kOpposites[rng.below(4)];
      return {std::string("What is the opposite of ") + pair[0] + "?", pair[1]};
    }
    case 1: {
      const auto& pair = kCorners[rng.below(4)];
      return {std::string("How many corners does a ") + pair[0] + " have?", pair[1]};
    }
    default: {
      const bool colour = rng.below(2) == 0;
      const char* word = colour ? colour_name(static_cast<int>(rng.below(kNumColours)))
                                : shape_name(static_cast<int>(rng.below(kNumShapes)));
      return {std::string("Is ") + word + " a colour or a shape?", colour ? "a colour" : "a shape"};
    }
  }
}

void add_round(Conversation& conversation, std::string question, std::string reply) {
  conversation.turns.push_back({"human", std::move(question)});
  conversation.turns.push_back({"gpt", std::move(reply)});
}

void add_text_rounds(Conversation& conversation, Rng& rng, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    auto [question, reply] = text_question(rng);
    add_round(conversation, std::move(question), std::move(reply));
  }
}

// LLaVA's 665K folders, each with its own file naming.
std::string instruction_image_path(int64_t index, uint64_t source) {
  switch (source) {
    case 0:
      return format("coco/train2017/%012lld.jpg", 9 + index * 7);
    case 1:
      return format("gqa/images/%lld.jpg", 2300000 + index);
    case 2:
      return format("ocr_vqa/images/%010lld.jpg", 140000000 + index * 3);
    case 3:
      return format("textvqa/train_images/%016llx.jpg", 0x0a0bc91825468c45LL + index * 131);
    default:
      return format(index % 2 ? "vg/VG_100K_2/%lld.jpg" : "vg/VG_100K/%lld.jpg", 1000 + index);
  }
}

}  // namespace

std::string caption(const Scene& scene, int variant) {
  const std::string c = colour_name(scene.colour), s = shape_name(scene.shape),
                    p = position_name(scene.position);
  switch (variant % 4) {
    case 0:
      return "a " + c + " " + s + " in the " + p;
    case 1:
      return "a " + c + " " + s + " at the " + p;
    case 2:
      return "the " + c + " " + s + " is in the " + p;
    default:
      return "a " + s + " coloured " + c + " in the " + p;
  }
}

Record caption_record(uint64_t seed, int64_t index) {
  Rng rng(derive_seed(seed, kCaptionStream, static_cast<uint64_t>(index)));
  Record record;
  record.scenes.push_back(random_scene(rng.next()));
  const long long number = index * 97 + static_cast<long long>(rng.below(97));
  record.conversation.id = format("%09lld", number);
  record.conversation.images.push_back(format("%05lld/", number / 10000) +
                                       format("%09lld.jpg", number));
  const std::string prompt = kCaptionPrompts[rng.below(4)];
  add_round(record.conversation, rng.below(2) ? "<image>\n" + prompt : prompt + "\n<image>",
            caption(record.scenes.front(), static_cast<int>(rng.below(4))));
  return record;
}

Record instruction_record(uint64_t seed, int64_t index, double text_only_ratio) {
  Rng rng(derive_seed(seed, kInstructionStream, static_cast<uint64_t>(index)));
  Record record;
  Conversation& conversation = record.conversation;
  const bool greeting_first = rng.unit() < 0.02;  // LLaVA skips a first turn from gpt
  if (greeting_first) conversation.turns.push_back({"gpt", kGreeting});
  if (rng.unit() < text_only_ratio) {
    conversation.id = format("text-%07lld", index);
    add_text_rounds(conversation, rng, static_cast<int>(rng.between(1, 2)));
    return record;
  }
  const Scene scene = random_scene(rng.next());
  record.scenes.push_back(scene);
  conversation.images.push_back(instruction_image_path(index, rng.below(5)));
  const std::string& path = conversation.images.front();
  conversation.id = path.substr(path.rfind('/') + 1, path.rfind('.') - path.rfind('/') - 1);
  // All three questions in a random order, the answer-format hint on the first only (as
  // LLaVA's multi-round VQA samples often have it): more answers per token of image and
  // system prompt, which is what the 10-minute learning bar buys with.
  std::vector<int> categories = {kColour, kShape, kPosition};
  rng.shuffle(categories);
  for (size_t k = 0; k < categories.size(); ++k) {
    const std::string question = kQuestions[categories[k]];
    add_round(conversation, k == 0 ? "<image>\n" + question + kShortAnswer : question,
              answer(scene, categories[k]));
  }
  return record;
}

Record vora_record(uint64_t seed, int64_t index, double text_only_ratio) {
  Rng rng(derive_seed(seed, kVoraStream, static_cast<uint64_t>(index)));
  Record record;
  Conversation& conversation = record.conversation;
  conversation.id = format("vora-%08lld", index);
  if (rng.unit() < 0.2) conversation.turns.push_back({"system", kVoraSystems[rng.below(2)]});
  if (rng.unit() < text_only_ratio) {
    record.empty_frames = rng.below(2) == 0;
    add_text_rounds(conversation, rng, 1);
    return record;
  }
  record.scenes.push_back(random_scene(rng.next()));
  conversation.images.push_back(format("frames/%08lld.jpg", index));
  add_round(conversation, std::string("<image>\n") + kVoraPrompts[rng.below(2)],
            caption(record.scenes.front(), static_cast<int>(rng.below(4))));
  return record;
}

std::vector<Record> eval_records(uint64_t seed, int64_t image_index) {
  Rng rng(derive_seed(seed, kEvalStream, static_cast<uint64_t>(image_index)));
  const Scene scene = random_scene(rng.next());
  std::vector<Record> records;
  for (int category : {kColour, kShape, kPosition}) {
    Record record;
    record.scenes.push_back(scene);
    record.conversation.id = format("eval-%05lld-", image_index) + kCategoryNames[category];
    record.conversation.images.push_back(format("eval/images/%05lld.jpg", image_index));
    record.conversation.category = kCategoryNames[category];
    add_round(record.conversation, "<image>\n" + std::string(kQuestions[category]) + kShortAnswer,
              answer(scene, category));
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace vlm::data::synth
