#include "data/record_stream.h"

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"

namespace vlm::data {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

CorpusFormat corpus_format_of(const std::string& path) {
  return ends_with(path, ".jsonl") ? CorpusFormat::kJsonLines : CorpusFormat::kJsonArray;
}

const char* corpus_format_name(CorpusFormat format) {
  return format == CorpusFormat::kJsonLines ? "json_lines" : "json_array";
}

RecordStream::RecordStream(const std::string& path, CorpusFormat format, uint64_t offset)
    : path_(path),
      format_(format),
      buffer_(kBufferBytes),
      state_(offset == 0 ? State::kBeforeArray : State::kBeforeElement) {
  file_ = std::fopen(path.c_str(), "rb");
  VLM_CHECK(file_ != nullptr, IoError, "cannot open corpus ", path, ": ", std::strerror(errno));
  if (offset != 0 && std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0) {
    std::fclose(file_);
    VLM_THROW(IoError, "cannot seek to byte ", offset, " of ", path, ": ", std::strerror(errno));
  }
  buffer_offset_ = file_offset_ = offset;
}

RecordStream::~RecordStream() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordStream::next(std::string& record, uint64_t& offset) { return advance(&record, offset); }

bool RecordStream::skip(uint64_t& offset) { return advance(nullptr, offset); }

bool RecordStream::advance(std::string* record, uint64_t& offset) {
  if (record != nullptr) record->clear();
  record_bytes_ = 0;
  const bool found = format_ == CorpusFormat::kJsonLines ? next_line(record, offset)
                                                         : next_element(record, offset);
  if (found && record != nullptr) *record = std::string(trim(*record, " \t\n\r"));
  return found;
}

void RecordStream::append(std::string* record, const char* bytes, size_t count) {
  record_bytes_ += count;
  if (record == nullptr || record->size() >= max_record_bytes_) return;
  record->append(
      bytes, static_cast<size_t>(std::min<uint64_t>(count, max_record_bytes_ - record->size())));
}

bool RecordStream::refill() {
  if (eof_) return false;
  buffer_offset_ = file_offset_;
  begin_ = 0;
  end_ = std::fread(buffer_.data(), 1, buffer_.size(), file_);
  VLM_CHECK(!std::ferror(file_), IoError, "cannot read corpus ", path_, " at byte ", file_offset_,
            ": ", std::strerror(errno));
  file_offset_ += end_;
  checksum_.update(std::string_view(buffer_.data(), end_));
  if (end_ == 0) eof_ = true;
  return end_ > 0;
}

void RecordStream::fail(const std::string& what) const {
  VLM_THROW(FormatError, path_, ": byte ", buffer_offset_ + begin_, ": ", what);
}

// A record is a line with something besides white space in it.
bool RecordStream::next_line(std::string* record, uint64_t& offset) {
  bool in_line = false;
  bool blank = true;
  for (;;) {
    if (begin_ == end_ && !refill()) {
      if (in_line && !blank) return true;  // a last line without '\n'
      return false;
    }
    if (!in_line) {
      in_line = true;
      blank = true;
      offset = buffer_offset_ + begin_;
      if (record != nullptr) record->clear();
      record_bytes_ = 0;
    }
    const char* start = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    const size_t length = newline ? static_cast<size_t>(newline - start) : end_ - begin_;
    for (size_t i = 0; blank && i < length; ++i) blank = is_space(start[i]);
    append(record, start, length);
    begin_ += length;
    if (newline == nullptr) continue;
    ++begin_;  // past '\n'
    in_line = false;
    if (!blank) return true;
  }
}

// Top-level elements of one JSON array: an element ends at a ',' or ']' outside strings at
// depth 0.
bool RecordStream::next_element(std::string* record, uint64_t& offset) {
  int64_t depth = 0;
  bool in_string = false;
  bool escape = false;
  for (;;) {
    if (begin_ == end_ && !refill()) {
      if (state_ == State::kAfterArray) return false;
      if (state_ == State::kBeforeArray) fail("expected a JSON array of records");
      fail("the file ends inside the array (an unterminated array, string or bracket)");
    }
    const char c = buffer_[begin_];
    switch (state_) {
      case State::kBeforeArray:
        if (c != '[' && !is_space(c)) fail("expected a JSON array of records");
        if (c == '[') state_ = State::kBeforeElement;
        ++begin_;
        break;
      case State::kBeforeElement:
        if (is_space(c)) {
          ++begin_;
        } else if (c == ']') {  // "[]", or a trailing comma before ']'
          ++begin_;
          state_ = State::kAfterArray;
        } else {
          offset = buffer_offset_ + begin_;
          depth = 0;
          in_string = escape = false;
          state_ = State::kInElement;
        }
        break;
      case State::kInElement: {
        size_t i = begin_;
        bool ended = false;
        for (; i < end_; ++i) {
          const char d = buffer_[i];
          if (in_string) {
            if (escape) {
              escape = false;
            } else if (d == '\\') {
              escape = true;
            } else if (d == '"') {
              in_string = false;
            }
          } else if (d == '"') {
            in_string = true;
          } else if (d == '{' || d == '[') {
            ++depth;
          } else if (d == '}' || d == ']') {
            if (depth == 0) {
              if (d == '}') {
                begin_ = i;
                fail("unbalanced '}' in the array");
              }
              ended = true;
              break;
            }
            --depth;
          } else if (d == ',' && depth == 0) {
            ended = true;
            break;
          }
        }
        append(record, buffer_.data() + begin_, i - begin_);
        begin_ = i;
        if (ended) {
          state_ = State::kAfterElement;
          return true;
        }
        break;
      }
      case State::kAfterElement:  // at the ',' or ']' that ended the element
        state_ = c == ',' ? State::kBeforeElement : State::kAfterArray;
        ++begin_;
        break;
      case State::kAfterArray:
        if (!is_space(c)) fail("unexpected content after the array");
        ++begin_;
        break;
    }
  }
}

CorpusScan scan_corpus(const std::string& path, CorpusFormat format, int64_t records_per_shard) {
  VLM_CHECK(records_per_shard > 0, ConfigError, "records per shard must be positive, got ",
            records_per_shard);
  RecordStream stream(path, format);
  CorpusScan scan;
  uint64_t offset = 0;
  while (stream.skip(offset)) {
    if (scan.records % records_per_shard == 0) scan.shard_starts.push_back(offset);
    ++scan.records;
  }
  scan.size_bytes = stream.bytes_read();
  scan.checksum = stream.checksum();
  return scan;
}

}  // namespace vlm::data
