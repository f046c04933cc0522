// --set overrides: "a.b.c=value" strings that change the recipe's YAML tree before it is parsed.
#pragma once

#include <string>
#include <vector>

namespace vlm::recipes {

struct Override {
  std::string text;               // as given, for messages: "stages.1.optimizer.lr=2e-5"
  std::vector<std::string> keys;  // {"stages", "1", "optimizer", "lr"}
  std::string value;              // YAML text: "2e-5", "[projector, llm]"
};

// Splits "a.b.c=value". List entries are numbered: "stages.1.lr" or, as messages print them,
// "stages[1].lr". Throws ConfigError naming the override when it is malformed.
Override parse_override(const std::string& text);

}  // namespace vlm::recipes
