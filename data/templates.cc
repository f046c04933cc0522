// Conversation templates: plain, vicuna_v1, qwen2 (RECIPES.md, "Conversation templates").
#include "common/error.h"
#include "data/conversation.h"

namespace vlm::data {
namespace {

constexpr char kImagePlaceholder[] = "<image>";
constexpr char kVicunaSystem[] =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.";
constexpr char kQwenSystem[] = "You are a helpful assistant.";

// One human/gpt pair, with the human turn's image placeholders taken out and counted.
struct Round {
  std::string question;
  int images = 0;
  bool answered = false;
  std::string answer;
};

struct Dialogue {
  bool has_system = false;
  std::string system;
  std::vector<Round> rounds;
};

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n\r");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\n\r") - first + 1);
}

// LLaVA's preprocess_multimodal: placeholders out, the rest stripped (the template puts the
// images in front).
Round read_question(const std::string& value) {
  Round round;
  round.images = count_image_placeholders(value);
  if (round.images == 0) {
    round.question = value;
    return round;
  }
  std::string rest;
  size_t from = 0;
  for (size_t pos = value.find(kImagePlaceholder); pos != std::string::npos;
       pos = value.find(kImagePlaceholder, from)) {
    rest += value.substr(from, pos - from);
    from = pos + sizeof(kImagePlaceholder) - 1;
  }
  rest += value.substr(from);
  round.question = trim(rest);
  return round;
}

// Checks the turn order and splits it into rounds. A trailing question without an answer is
// kept (unanswered) for prompts.
Dialogue read_dialogue(const Conversation& conversation) {
  const auto& turns = conversation.turns;
  const std::string& id = conversation.id;
  Dialogue dialogue;
  size_t i = 0;
  if (i < turns.size() && turns[i].from == "system") {
    dialogue.has_system = true;
    dialogue.system = turns[i++].value;
  }
  if (i < turns.size() && turns[i].from == "gpt") ++i;  // 665K: a first turn from gpt is skipped
  int images = 0;
  for (; i < turns.size(); i += 2) {
    VLM_CHECK(turns[i].from == "human", FormatError, "conversation ", id, ": turn ", i,
              " is from '", turns[i].from, "' where a human turn was expected");
    Round round = read_question(turns[i].value);
    images += round.images;
    if (i + 1 < turns.size()) {
      const Turn& answer = turns[i + 1];
      VLM_CHECK(answer.from == "gpt", FormatError, "conversation ", id, ": turn ", i + 1,
                " is from '", answer.from, "' where a gpt turn was expected");
      VLM_CHECK(count_image_placeholders(answer.value) == 0, FormatError, "conversation ", id,
                ": turn ", i + 1, " (an answer) contains ", kImagePlaceholder);
      round.answered = true;
      round.answer = answer.value;
    }
    dialogue.rounds.push_back(std::move(round));
  }
  VLM_CHECK(!dialogue.rounds.empty(), FormatError, "conversation ", id, " has no human/gpt round");
  VLM_CHECK(images == static_cast<int>(conversation.images.size()), FormatError, "conversation ",
            id, " has ", images, " ", kImagePlaceholder, " placeholder(s) but ",
            conversation.images.size(), " image(s)");
  return dialogue;
}

Segment text(std::string value, int round, bool trainable = false) {
  return {Segment::Kind::kText, std::move(value), trainable, round};
}

void add_images(std::vector<Segment>& segments, int count, int round) {
  for (int i = 0; i < count; ++i) segments.push_back({Segment::Kind::kImage, "", false, round});
}

void add_answer(std::vector<Segment>& segments, const Round& round, int index) {
  if (!round.answered) return;
  segments.push_back(text(round.answer, index, true));
  segments.push_back({Segment::Kind::kEos, "", true, index});
}

std::vector<Segment> render_plain(const Dialogue& dialogue, const std::string& id) {
  VLM_CHECK(dialogue.rounds.size() == 1, FormatError, "conversation ", id,
            ": the plain template takes one human/gpt pair, not ", dialogue.rounds.size());
  const Round& round = dialogue.rounds.front();
  std::vector<Segment> segments = {{Segment::Kind::kBos, "", false, 0}};
  add_images(segments, round.images, 0);
  if (round.answered) segments.push_back(text(round.answer + "\n", 0, true));
  return segments;
}

std::vector<Segment> render_vicuna(const Dialogue& dialogue) {
  const std::string system = dialogue.has_system ? dialogue.system : kVicunaSystem;
  std::vector<Segment> segments = {{Segment::Kind::kBos, "", false, 0}};
  for (size_t k = 0; k < dialogue.rounds.size(); ++k) {
    const Round& round = dialogue.rounds[k];
    const int index = static_cast<int>(k);
    const std::string head = (k == 0 && !system.empty() ? system + " " : "") + "USER:";
    if (round.images > 0) {
      segments.push_back(text(head, index));
      add_images(segments, round.images, index);
      segments.push_back(text("\n" + round.question + " ASSISTANT:", index));
    } else {
      segments.push_back(text(head + " " + round.question + " ASSISTANT:", index));
    }
    add_answer(segments, round, index);
  }
  return segments;
}

std::vector<Segment> render_qwen2(const Dialogue& dialogue) {
  const std::string system = dialogue.has_system ? dialogue.system : kQwenSystem;
  std::vector<Segment> segments;
  for (size_t k = 0; k < dialogue.rounds.size(); ++k) {
    const Round& round = dialogue.rounds[k];
    const int index = static_cast<int>(k);
    const std::string head =
        (k == 0 ? "<|im_start|>system\n" + system + "<|im_end|>\n" : "") + "<|im_start|>user\n";
    const std::string tail = round.question + "<|im_end|>\n<|im_start|>assistant\n";
    if (round.images > 0) {
      segments.push_back(text(head, index));
      add_images(segments, round.images, index);
      segments.push_back(text("\n" + tail, index));
    } else {
      segments.push_back(text(head + tail, index));
    }
    add_answer(segments, round, index);
  }
  return segments;
}

std::vector<Segment> render_dialogue(const Dialogue& dialogue, const std::string& template_name,
                                     const std::string& id) {
  if (template_name == "plain") return render_plain(dialogue, id);
  if (template_name == "vicuna_v1") return render_vicuna(dialogue);
  if (template_name == "qwen2") return render_qwen2(dialogue);
  VLM_THROW(ConfigError, "unknown conversation template '", template_name,
            "' (plain, vicuna_v1 or qwen2)");
}

}  // namespace

bool is_known_template(const std::string& template_name) {
  return template_name == "plain" || template_name == "vicuna_v1" || template_name == "qwen2";
}

std::vector<Segment> render(const Conversation& conversation, const std::string& template_name) {
  VLM_CHECK(is_known_template(template_name), ConfigError, "unknown conversation template '",
            template_name, "' (plain, vicuna_v1 or qwen2)");
  const Dialogue dialogue = read_dialogue(conversation);
  VLM_CHECK(dialogue.rounds.back().answered, FormatError, "conversation ", conversation.id,
            " ends with a human turn that has no answer");
  return render_dialogue(dialogue, template_name, conversation.id);
}

std::vector<Segment> render_prompt(const Conversation& conversation,
                                   const std::string& template_name) {
  VLM_CHECK(is_known_template(template_name), ConfigError, "unknown conversation template '",
            template_name, "' (plain, vicuna_v1 or qwen2)");
  Dialogue dialogue = read_dialogue(conversation);
  dialogue.rounds.back().answered = false;
  dialogue.rounds.back().answer.clear();
  return render_dialogue(dialogue, template_name, conversation.id);
}

int count_image_placeholders(std::string_view text) {
  const std::string_view placeholder = kImagePlaceholder;
  int count = 0;
  for (size_t pos = text.find(placeholder); pos != std::string_view::npos;
       pos = text.find(placeholder, pos + placeholder.size())) {
    ++count;
  }
  return count;
}

}  // namespace vlm::data
