#include "worker/evaluate.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/files.h"
#include "data/conversation.h"
#include "data/corpus.h"
#include "data/image.h"
#include "data/image_root.h"
#include "data/loader.h"
#include "data/run_tokenizer.h"
#include "models/attention_mask.h"
#include "models/model.h"
#include "recipes/load.h"
#include "sharding/caching_allocator.h"
#include "worker/objective_kinds.h"
#include "worker/threads.h"

namespace vlm::worker {
namespace {

struct Question {
  std::string category;
  std::string expected;
  std::vector<int32_t> prompt_ids;
  std::vector<int64_t> image_starts;  // first position of each image's tokens
  std::vector<float> pixels;          // one image, preprocessed
  int64_t num_images = 0;
};

std::string first_answer(const data::Conversation& conversation) {
  for (const auto& turn : conversation.turns) {
    if (turn.from == "gpt") return turn.value;
  }
  VLM_THROW(FormatError, "eval record ", conversation.id, " has no answer turn");
}

std::vector<Question> load_questions(const recipes::Recipe& recipe, const recipes::Stage& stage,
                                     const data::Tokenizer& tokenizer,
                                     const models::VisionLanguageModel& model, int64_t limit) {
  const std::string path = data::resolve(stage.data, recipe.eval.questions);
  const auto records = data::read_corpus(path);
  // Eval images live under the corpus like the training images: same root.
  const data::ImageRoot image_root(data::image_folder(stage.data), data::image_limits(stage.data),
                                   data::image_links(stage.data));
  const data::ImagePreprocessing images = data::image_preprocessing(
      stage.data, recipe.model.vision.hf_path, model.config().vision.image_size);
  std::vector<Question> questions;
  for (const auto& record : records) {
    if (limit > 0 && static_cast<int64_t>(questions.size()) >= limit) break;
    Question q;
    q.category = record.category.empty() ? "all" : record.category;
    q.expected = normalize_answer(first_answer(record));
    const auto segments = data::render_prompt(record, stage.data.chat_template);
    data::TokenizedSample prompt =
        data::tokenize(segments, tokenizer, model.image_tokens_per_image(), stage.data.max_seq_len);
    q.prompt_ids = std::move(prompt.input_ids);
    q.image_starts = std::move(prompt.image_starts);
    for (const auto& image : record.images) {
      const auto rgb = data::decode_image(image_root.read_or_throw(image), image,
                                          image_root.limits().max_pixels);
      data::preprocess(rgb, images, q.pixels);
      ++q.num_images;
    }
    questions.push_back(std::move(q));
  }
  return questions;
}

// Greedy decoding for a group of questions whose prompts have the same length (no padding).
std::vector<std::vector<int32_t>> generate(models::VisionLanguageModel& model,
                                           const std::vector<const Question*>& group,
                                           const data::Tokenizer& tokenizer, int64_t max_new) {
  const int64_t batch = static_cast<int64_t>(group.size());
  const int64_t prompt_len = static_cast<int64_t>(group.front()->prompt_ids.size());
  at::Tensor ids = at::empty({batch, prompt_len}, at::kLong);
  std::vector<float> pixels;
  int64_t num_images = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < prompt_len; ++t) ids[b][t] = group[b]->prompt_ids[t];
    pixels.insert(pixels.end(), group[b]->pixels.begin(), group[b]->pixels.end());
    num_images += group[b]->num_images;
  }
  models::ModelInputs inputs;
  if (num_images > 0) {
    const int64_t s = model.config().vision.image_size;
    inputs.images = at::from_blob(pixels.data(), {num_images, 3, s, s}, at::kFloat).clone();
  }
  // As in training: VoRA's image tokens see each other both ways.
  std::vector<models::TokenSpan> spans;
  if (model.config().vision_mask == recipes::VisionMask::kBidirectional) {
    for (int64_t b = 0; b < batch; ++b) {
      for (const int64_t start : group[b]->image_starts) {
        spans.push_back({b, start, model.image_tokens_per_image()});
      }
    }
  }
  std::vector<std::vector<int32_t>> answers(batch);
  std::vector<bool> finished(batch, false);
  for (int64_t i = 0; i < max_new; ++i) {
    const int64_t len = ids.size(1);
    inputs.input_ids = ids;
    inputs.attention_mask =
        models::build_attention_mask(batch, len, std::vector<int64_t>(batch, len), spans);
    const at::Tensor next = model.forward(inputs).logits.select(1, len - 1).argmax(-1);
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      const auto token = static_cast<int32_t>(next[b].item<int64_t>());
      if (token == tokenizer.eos_id()) finished[b] = true;
      if (!finished[b]) answers[b].push_back(token);
      all_done = all_done && finished[b];
    }
    if (all_done) break;
    ids = at::cat({ids, next.unsqueeze(1)}, 1);
  }
  return answers;
}

// VoRA's final model runs without its teacher: only the teacher's shapes are needed (they set
// the patch grid), not its weights.
recipes::ModelSection evaluation_model(const recipes::Recipe& recipe) {
  recipes::ModelSection model = recipe.model;
  if (model.architecture == recipes::Architecture::kVora) model.vision.hf_path.clear();
  return model;
}

bool recipe_drops_teacher(const recipes::Recipe& recipe) {
  for (const recipes::Stage& stage : recipe.stages) {
    if (stage.merge_lora_at_end) return true;
  }
  return false;
}

}  // namespace

std::string normalize_answer(const std::string& text) {
  std::string out;
  for (const char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  out.erase(out.begin(), std::find_if(out.begin(), out.end(), not_space));
  out.erase(std::find_if(out.rbegin(), out.rend(), not_space).base(), out.end());
  while (!out.empty() && std::ispunct(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

EvalReport evaluate_run(const std::string& run_dir, int64_t limit) {
  const checkpoint::RunLayout layout{run_dir, /*checkpoint_dir=*/""};
  VLM_CHECK(files::exists(layout.recipe_yaml()), IoError, run_dir,
            " is not a run directory (no recipe.yaml); train one with vlm-worker first");
  VLM_CHECK(files::exists(layout.final_model()), IoError, run_dir, " has no final model (",
            layout.final_model(), "): the run did not finish");
  const recipes::Recipe recipe = recipes::load(layout.recipe_yaml(), objective_kinds());
  const recipes::Stage& stage = recipe.stages.back();
  apply_threads(plan_threads(static_cast<int>(stage.training.num_threads), 1));
  // Each decoding step allocates the same activations again: cached, as in training, they are
  // not faulted in anew every time (a sixth of vlm-eval's time on the tiny recipes).
  sharding::install_caching_cpu_allocator(recipe.sharding);

  const auto tokenizer = data::load_run_tokenizer(recipe);
  models::VisionLanguageModel model(evaluation_model(recipe), tokenizer->vocab_size(),
                                    stage.training.seed);
  if (model.config().architecture == recipes::Architecture::kVora && recipe_drops_teacher(recipe)) {
    model.drop_teacher();
  }
  model.load_saved(layout.final_model());
  model.train(false);
  at::NoGradGuard no_grad;

  const auto questions = load_questions(recipe, stage, *tokenizer, model, limit);
  std::map<size_t, std::vector<const Question*>> by_length;
  for (const auto& q : questions) by_length[q.prompt_ids.size()].push_back(&q);

  EvalReport report;
  constexpr size_t kBatch = 64;
  for (const auto& [length, all] : by_length) {
    for (size_t start = 0; start < all.size(); start += kBatch) {
      const std::vector<const Question*> group(all.begin() + start,
                                               all.begin() + std::min(all.size(), start + kBatch));
      const auto answers = generate(model, group, *tokenizer, recipe.eval.max_new_tokens);
      for (size_t i = 0; i < group.size(); ++i) {
        const std::string answer = normalize_answer(tokenizer->decode(answers[i]));
        auto& score = report.by_category[group[i]->category];
        ++score.total;
        score.correct += answer == group[i]->expected ? 1 : 0;
        if (report.sample_lines.size() < 6) {
          report.sample_lines.push_back(group[i]->category + ": '" + answer + "' (expected '" +
                                        group[i]->expected + "')");
        }
      }
    }
  }
  return report;
}

}  // namespace vlm::worker
