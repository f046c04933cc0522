// Held-out evaluation: greedy decoding of a trained model on question records, exact match of the
// answer, accuracy per question category.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "checkpoint/run_layout.h"
#include "recipes/recipe.h"

namespace vlm::worker {

struct CategoryScore {
  int64_t correct = 0;
  int64_t total = 0;
  double accuracy() const { return total > 0 ? static_cast<double>(correct) / total : 0.0; }
};

struct EvalReport {
  std::map<std::string, CategoryScore> by_category;
  std::vector<std::string> sample_lines;  // a few "question -> answer (expected)" lines
};

// Loads the run's resolved recipe and final model and answers eval.questions (relative to the
// last stage's data.corpus_dir) with the last stage's template. limit 0: every question.
EvalReport evaluate_run(const std::string& run_dir, int64_t limit);

// Lower-case, trimmed, trailing punctuation dropped: how answers are compared.
std::string normalize_answer(const std::string& text);

}  // namespace vlm::worker
