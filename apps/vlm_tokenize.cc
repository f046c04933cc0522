// vlm-tokenize --tokenizer PATH [--add-token T ...] [--decode]: what the model sees. Reads one
// JSON string per line on stdin and prints one JSON array of token ids per line (--decode: arrays
// in, strings out). A line that is not what it should be is reported on stderr with its number;
// its output line is "null", so that output line i always answers input line i; the exit code is
// then 2.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "apps/main_support.h"
#include "common/error.h"
#include "data/tokenizer.h"

namespace {

using Json = nlohmann::json;

// Longer lines are refused (and skipped) rather than read whole: tokenizing one word of n bytes
// (a SentencePiece-style text is one word) takes some 50 n bytes of memory.
constexpr size_t kMaxLineBytes = size_t{4} << 20;
// Error messages may quote the line (a JSON parser's "last read: ..."): at most this much.
constexpr size_t kMaxMessageBytes = 300;

// Reads one line without its "\n"; false at the end of input. A line longer than the limit is
// skipped to its end and flagged.
bool read_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  int c;
  bool any = false;
  while ((c = in.get()) != std::char_traits<char>::eof()) {
    any = true;
    if (c == '\n') return true;
    if (line.size() < kMaxLineBytes) {
      line += static_cast<char>(c);
    } else {
      too_long = true;
    }
  }
  return any;
}

std::string encode_line(const vlm::data::Tokenizer& tokenizer, const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_string(), FormatError, "expected a JSON string");
  std::string out = "[";
  for (const int32_t id : tokenizer.encode(value.get<std::string>())) {
    if (out.size() > 1) out += ", ";
    out += std::to_string(id);
  }
  return out + "]";
}

std::string decode_line(const vlm::data::Tokenizer& tokenizer, const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_array(), FormatError, "expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (const Json& id : value) {
    VLM_CHECK(id.is_number_integer() && id.get<int64_t>() >= std::numeric_limits<int32_t>::min() &&
                  id.get<int64_t>() <= std::numeric_limits<int32_t>::max(),
              FormatError, "expected token ids (integers), got ", id.dump().substr(0, 40));
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  // Ids that end inside a UTF-8 character decode to bytes JSON cannot hold: those become U+FFFD.
  return Json(tokenizer.decode(ids)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

int tokenize_main(int argc, char** argv) {
  CLI::App app{
      "vlm-tokenize: token ids of text, as the model sees it. stdin: one JSON string per line; "
      "stdout: one JSON array of ids per line (--decode: the reverse). A bad line prints null, "
      "is reported on stderr with its number, and makes the exit code 2"};
  std::string path;
  std::vector<std::string> added_tokens;
  bool decode = false;
  app.add_option("--tokenizer", path,
                 "a tokenizer.json, a tokenizer.model or a model folder holding one")
      ->required();
  app.add_option("--add-token", added_tokens,
                 "a token the run adds (e.g. <auto_image>), after the file's largest id; "
                 "repeatable");
  app.add_flag("--decode", decode, "read arrays of ids, print the text they stand for");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }
  const auto tokenizer = vlm::data::load_tokenizer(path, added_tokens);

  int bad_lines = 0;
  std::string line;
  bool too_long = false;
  for (int64_t number = 1; read_line(std::cin, line, too_long); ++number) {
    std::string out;
    try {
      VLM_CHECK(!too_long, FormatError, "longer than ", kMaxLineBytes, " bytes");
      out = decode ? decode_line(*tokenizer, line) : encode_line(*tokenizer, line);
    } catch (const std::exception& e) {
      const std::string message = e.what();
      std::cerr << "vlm-tokenize: line " << number << ": " << message.substr(0, kMaxMessageBytes)
                << (message.size() > kMaxMessageBytes ? "...\n" : "\n");
      out = "null";
      ++bad_lines;
    }
    std::cout << out << '\n';
  }
  std::cout.flush();
  return bad_lines == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, tokenize_main); }
