// vlm-tokenize --tokenizer PATH [--add-token T ...] [--decode | --records TEMPLATE]: what the
// model sees. Reads one JSON string per line on stdin and prints one JSON array of token ids per
// line (--decode: arrays in, strings out; --records: corpus records in, as JSON Lines, and
// {"ids": [...], "labels": [...]} out, rendered with the template and tokenized as training does,
// each image one kImageToken (-200), as LLaVA's tokenizer_image_token writes it). A line that is
// not what it should be (a record the template refuses, too) is reported on stderr with its
// number; its output line is "null", so that output line i always answers input line i; the exit
// code is then 2.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "apps/main_support.h"
#include "common/error.h"
#include "data/conversation.h"
#include "data/corpus.h"
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

std::string id_array(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (const int32_t id : ids) {
    if (out.size() > 1) out += ", ";
    out += std::to_string(id);
  }
  return out + "]";
}

std::string encode_line(const vlm::data::Tokenizer& tokenizer, const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_string(), FormatError, "expected a JSON string");
  return id_array(tokenizer.encode(value.get<std::string>()));
}

// A corpus record (read_corpus's schema) rendered and tokenized as training does, untruncated.
std::string record_line(const vlm::data::Tokenizer& tokenizer, const std::string& template_name,
                        const std::string& line) {
  const vlm::data::Conversation conversation = vlm::data::parse_record_document(line);
  const vlm::data::TokenizedSample sample = vlm::data::tokenize(
      vlm::data::render(conversation, template_name), tokenizer, /*image_tokens=*/1,
      /*max_seq_len=*/0);
  return "{\"ids\": " + id_array(sample.input_ids) + ", \"labels\": " + id_array(sample.labels) +
         "}";
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
      "stdout: one JSON array of ids per line (--decode: the reverse; --records: corpus records "
      "in, {\"ids\", \"labels\"} out). A bad line prints null, is reported on stderr with its "
      "number, and makes the exit code 2"};
  std::string path;
  std::vector<std::string> added_tokens;
  bool decode = false;
  std::string template_name;
  app.add_option("--tokenizer", path,
                 "a tokenizer.json, a tokenizer.model or a model folder holding one")
      ->required();
  app.add_option("--add-token", added_tokens,
                 "a token the run adds (e.g. <auto_image>), after the file's largest id; "
                 "repeatable");
  auto* decode_flag =
      app.add_flag("--decode", decode, "read arrays of ids, print the text they stand for");
  app.add_option("--records", template_name,
                 "read corpus records (JSON Lines), render them with this template (plain, "
                 "vicuna_v1, qwen2) and print their ids and labels, one -200 per image")
      ->excludes(decode_flag);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }
  VLM_CHECK(template_name.empty() || vlm::data::is_known_template(template_name), ConfigError,
            "unknown conversation template '", template_name, "' (plain, vicuna_v1 or qwen2)");
  const auto tokenizer = vlm::data::load_tokenizer(path, added_tokens);

  int bad_lines = 0;
  std::string line;
  bool too_long = false;
  for (int64_t number = 1; read_line(std::cin, line, too_long); ++number) {
    std::string out;
    try {
      VLM_CHECK(!too_long, FormatError, "longer than ", kMaxLineBytes, " bytes");
      if (!template_name.empty()) {
        out = record_line(*tokenizer, template_name, line);
      } else {
        out = decode ? decode_line(*tokenizer, line) : encode_line(*tokenizer, line);
      }
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
