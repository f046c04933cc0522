// Conversation templates: plain, vicuna_v1, qwen2 (RECIPES.md, "Conversation templates").
#include "common/error.h"
#include "data/conversation.h"
#include "data/unicode_text.h"

namespace vlm::data {
namespace {

constexpr char kImagePlaceholder[] = "<image>";
constexpr char kVicunaSystem[] =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.";
constexpr char kQwenSystem[] = "You are a helpful assistant.";

// One human/gpt pair. The question is kept twice: as the data has it (VoRA's qwen2 template
// leaves "<image>" where it stands) and as LLaVA's preprocess_multimodal leaves it (placeholders
// out, the rest stripped; vicuna_v1 puts the images in front as "<image>\n").
struct Round {
  std::string raw_question;
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

// Python's str.isspace(), which str.strip() strips by: U+0009-U+000D, U+001C-U+001F, U+0020,
// U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip() with no argument, on UTF-8 text (records are checked to be UTF-8; a byte
// that does not start a well-formed character ends the stripping).
std::string python_strip(const std::string& text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const auto code = read_utf8(text, begin);
    if (!code || !is_python_space(code->first)) break;
    begin += code->second;
  }
  size_t end = text.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const auto code = read_utf8(text, start);
    if (!code || start + code->second != end || !is_python_space(code->first)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

// The text of a turn split at its "<image>" placeholders: one more piece than placeholders.
std::vector<std::string> split_at_placeholders(const std::string& value) {
  std::vector<std::string> pieces;
  size_t from = 0;
  for (size_t pos = value.find(kImagePlaceholder); pos != std::string::npos;
       pos = value.find(kImagePlaceholder, from)) {
    pieces.push_back(value.substr(from, pos - from));
    from = pos + sizeof(kImagePlaceholder) - 1;
  }
  pieces.push_back(value.substr(from));
  return pieces;
}

// LLaVA's preprocess_multimodal (llava/train/train.py) on a human turn that holds "<image>":
// every placeholder removed, the rest stripped as Python strips, and one "<image>\n" put in
// front (the templates render that prefix). Turns without a placeholder are left as they are.
// Unlike LLaVA, which has one image per record and collapses several placeholders of a turn into
// one, each placeholder keeps its image.
Round read_question(const std::string& value) {
  Round round;
  round.raw_question = value;
  round.images = count_image_placeholders(value);
  if (round.images == 0) {
    round.question = value;
    return round;
  }
  std::string rest;
  for (const std::string& piece : split_at_placeholders(value)) rest += piece;
  round.question = python_strip(rest);
  return round;
}

int placeholders_in(const Conversation& conversation) {
  int count = 0;
  for (const Turn& turn : conversation.turns) count += count_image_placeholders(turn.value);
  return count;
}

// Checks the turn order and splits it into rounds. A trailing question without an answer is
// kept (unanswered) for prompts. With prepend_implied_image (qwen2, as VoRA), a record with one
// image and no placeholder gets "<image>" in front of its first question.
Dialogue read_dialogue(const Conversation& conversation, bool prepend_implied_image) {
  const auto& turns = conversation.turns;
  const std::string& id = conversation.id;
  const bool implied =
      prepend_implied_image &&
      image_placeholder_implied(placeholders_in(conversation), conversation.images.size());
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
    Round round = read_question(
        implied && dialogue.rounds.empty() ? kImagePlaceholder + turns[i].value : turns[i].value);
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
            conversation.images.size(), " image(s)",
            images == 0 ? " (only the qwen2 template, as VoRA's, puts one in front of the first "
                          "question for a single image)"
                        : "");
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

// LLaVA's conv_llava_plain as preprocess_plain (llava/train/train.py) builds it: the human text
// is replaced by the image, then the caption and sep "\n": BOS, the image, "caption\n". Labels on
// the caption and its "\n" (tokenizer_image_token("<image>") = BOS and the image are masked); no
// EOS. One human/gpt pair only (preprocess_plain asserts two turns).
std::vector<Segment> render_plain(const Dialogue& dialogue, const std::string& id) {
  VLM_CHECK(dialogue.rounds.size() == 1, FormatError, "conversation ", id,
            ": the plain template takes one human/gpt pair, not ", dialogue.rounds.size());
  const Round& round = dialogue.rounds.front();
  std::vector<Segment> segments = {{Segment::Kind::kBos, "", false, 0}};
  add_images(segments, round.images, 0);
  if (round.answered) segments.push_back(text(round.answer + "\n", 0, true));
  return segments;
}

// LLaVA's conv_vicuna_v1 (llava/conversation.py, SeparatorStyle.TWO): the system prompt and
// sep " ", then per round "USER: " + question + " " + "ASSISTANT: " + answer + "</s>" (sep2; no
// space after it), as preprocess_v1 tokenizes it. The question is preprocess_multimodal's: with
// images, "<image>\n" + the stripped rest (just "<image>" when nothing is left), so the image
// follows "USER: " and its space, which the LLaMA tokenizer keeps as a lone "▁" before the image
// (tokenizer_image_token encodes the text before the image on its own). An empty system prompt
// still leaves its separator, as conversation.py does.
// Each text segment is encoded on its own with SentencePiece's dummy prefix; that prefix stands
// for the one space each boundary has ("ASSISTANT:" | "▁answer", "</s>" | "▁USER: ..."). After
// "</s>" this is the release-time LLaVA-1.5 tokenization (transformers 4.31, tokenizers < 0.14: the
// text after a special token starts with "▁", "▁US ER"); LLaVA's later code with a non-legacy
// tokenizer encodes that "USER" without the prefix and subtracts the token in preprocess_v1.
// Labels: each answer and its "</s>", as preprocess_v1's arithmetic leaves them
// (tests/e2e/test_template_reference.sh holds this to that arithmetic on the real tokenizer).
std::vector<Segment> render_vicuna(const Dialogue& dialogue) {
  const std::string system = dialogue.has_system ? dialogue.system : kVicunaSystem;
  std::vector<Segment> segments = {{Segment::Kind::kBos, "", false, 0}};
  for (size_t k = 0; k < dialogue.rounds.size(); ++k) {
    const Round& round = dialogue.rounds[k];
    const int index = static_cast<int>(k);
    const std::string head = (k == 0 ? system + " " : "") + "USER: ";
    if (round.images > 0) {
      segments.push_back(text(head, index));
      add_images(segments, round.images, index);
      // "<image>\n" + question, or "<image>" alone when the question is empty.
      const std::string rest = round.question.empty() ? "" : "\n" + round.question;
      segments.push_back(text(rest + " ASSISTANT:", index));
    } else {
      segments.push_back(text(head + round.question + " ASSISTANT:", index));
    }
    add_answer(segments, round, index);
  }
  return segments;
}

// VoRA's qwen2-style template (Hon-Wong/VoRA, data_module/vqa_processor.py with the configs'
// system_start "<|im_start|>system\n", system_end "<|im_end|>", roles "\n<|im_start|>user\n" and
// "<|im_end|>\n<|im_start|>assistant\n"): round 0's prompt is "<|im_start|>system\n" + system +
// "<|im_end|>" + "\n<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n"; every
// later round's is "\n<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n" (its
// "\n" ends the line of the previous answer's EOS and carries no label). The question is the
// turn as the data has it: each "<image>" stays where it stands (data_module/processor.py encodes
// the prompt's pieces between placeholders separately and puts the image between them), nothing
// is stripped or moved. The answer is encoded on its own and followed by the EOS; labels are the
// answers and their EOS (build_text's label mask).
std::vector<Segment> render_qwen2(const Dialogue& dialogue) {
  const std::string system = dialogue.has_system ? dialogue.system : kQwenSystem;
  std::vector<Segment> segments;
  for (size_t k = 0; k < dialogue.rounds.size(); ++k) {
    const Round& round = dialogue.rounds[k];
    const int index = static_cast<int>(k);
    const std::string head =
        (k == 0 ? "<|im_start|>system\n" + system + "<|im_end|>" : "") + "\n<|im_start|>user\n";
    std::vector<std::string> pieces = split_at_placeholders(round.raw_question);
    pieces.front() = head + pieces.front();
    pieces.back() += "<|im_end|>\n<|im_start|>assistant\n";
    for (size_t p = 0; p < pieces.size(); ++p) {
      if (p > 0) add_images(segments, 1, index);
      if (!pieces[p].empty()) segments.push_back(text(pieces[p], index));
    }
    add_answer(segments, round, index);
  }
  return segments;
}

std::vector<Segment> render_dialogue(const Dialogue& dialogue, recipes::Template chat_template,
                                     const std::string& id) {
  switch (chat_template) {
    case recipes::Template::kPlain:
      return render_plain(dialogue, id);
    case recipes::Template::kVicunaV1:
      return render_vicuna(dialogue);
    case recipes::Template::kQwen2:
      return render_qwen2(dialogue);
  }
  VLM_THROW(InternalError, "conversation template ", static_cast<int>(chat_template),
            " has no renderer");
}

}  // namespace

std::vector<Segment> render(const Conversation& conversation, recipes::Template chat_template) {
  const Dialogue dialogue = read_dialogue(conversation, chat_template == recipes::Template::kQwen2);
  VLM_CHECK(dialogue.rounds.back().answered, FormatError, "conversation ", conversation.id,
            " ends with a human turn that has no answer");
  return render_dialogue(dialogue, chat_template, conversation.id);
}

std::vector<Segment> render_prompt(const Conversation& conversation,
                                   recipes::Template chat_template) {
  Dialogue dialogue = read_dialogue(conversation, chat_template == recipes::Template::kQwen2);
  dialogue.rounds.back().answered = false;
  dialogue.rounds.back().answer.clear();
  return render_dialogue(dialogue, chat_template, conversation.id);
}

bool image_placeholder_implied(int placeholders, size_t images) {
  return placeholders == 0 && images == 1;
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
