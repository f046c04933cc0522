// JSON from files and peers, parsed with its nesting bounded. Parsing itself is iterative, but
// every later walk of a value (dump for a message, comparison, conversion) recurses once per
// level: a value nested a million deep ends the process on a stack overflow. Depth is refused as
// the parser meets it, before such a value exists. Header-only: each library that parses JSON
// already has nlohmann_json.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "common/text_format.h"

namespace vlm {

// Far beyond any real config.json, tokenizer.json, manifest, index or corpus record.
constexpr int kMaxJsonDepth = 64;

// A parser callback for Json::parse that throws FormatError naming `what` as soon as the text
// nests deeper than max_depth; for parsers that keep their own messages otherwise.
template <typename Json>
typename Json::parser_callback_t json_depth_limit(const std::string& what,
                                                  int max_depth = kMaxJsonDepth) {
  return [what, max_depth](int depth, typename Json::parse_event_t, Json&) {
    VLM_CHECK(depth <= max_depth, FormatError, what, ": JSON nested deeper than ", max_depth,
              " levels");
    return true;
  };
}

// Parses text as Json (nlohmann::json or ordered_json). FormatError naming `what` when it is not
// JSON (the parser's message cut to a few hundred bytes) or nests deeper than max_depth.
template <typename Json>
Json parse_bounded_json(std::string_view text, const std::string& what,
                        int max_depth = kMaxJsonDepth) {
  try {
    return Json::parse(text, json_depth_limit<Json>(what, max_depth));
  } catch (const typename Json::exception& e) {
    VLM_THROW(FormatError, what, " is not valid JSON: ", std::string(e.what()).substr(0, 300));
  }
}

}  // namespace vlm
