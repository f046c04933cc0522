// Corpus readers: LLaVA's JSON array (558K, 665K schema) and VoRA-style JSON Lines.
#include "data/corpus.h"

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "data/record_stream.h"

namespace vlm::data {
namespace {

constexpr char kMissingHint[] = "run scripts/demo.sh or vlm-synth --out <dir> to make a corpus";

size_t line_of(const std::string& text, size_t byte) {
  const auto end = text.begin() + static_cast<std::ptrdiff_t>(std::min(byte, text.size()));
  return 1 + static_cast<size_t>(std::count(text.begin(), end, '\n'));
}

// Records found by the array scanner (data/record_stream.h), each parsed on its own; the line a
// record starts on names it in messages.
std::vector<Conversation> read_json_array(const std::string& path, const std::string& text) {
  RecordStream stream(path, CorpusFormat::kJsonArray);
  std::vector<Conversation> corpus;
  std::string record;
  uint64_t offset = 0;
  for (size_t index = 0; stream.next(record, offset); ++index) {
    try {
      corpus.push_back(parse_record(record));
    } catch (const FormatError& e) {
      VLM_THROW(FormatError, path, ":", line_of(text, offset), ": record ", index, ": ", e.what());
    }
  }
  return corpus;
}

std::vector<Conversation> read_json_lines(const std::string& path, const std::string& text) {
  std::vector<Conversation> corpus;
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, end - start);
    ++line_number;
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      corpus.push_back(parse_record(line));
    } catch (const FormatError& e) {
      VLM_THROW(FormatError, path, ":", line_number, ": ", e.what());
    }
  }
  return corpus;
}

}  // namespace

void check_corpus_exists(const std::string& path) {
  VLM_CHECK(files::exists(path), IoError, "corpus file ", path, " not found (", kMissingHint, ")");
}

std::vector<Conversation> read_corpus(const std::string& path) {
  check_corpus_exists(path);
  const std::string text = files::read_all(path);
  return corpus_format_of(path) == CorpusFormat::kJsonLines ? read_json_lines(path, text)
                                                            : read_json_array(path, text);
}

}  // namespace vlm::data
