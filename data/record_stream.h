// Streams the records of a corpus file without loading it: JSON Lines (one record per line,
// blank lines ignored) or one JSON array of records (LLaVA's 558K / 665K files), whose top-level
// elements are found by a scanner that tracks strings, escapes and bracket depth, not by parsing.
// A record's text is handed out as given; parsing it is the caller's business, so a malformed
// record is one record, and only a broken array structure (unterminated array or string,
// unbalanced brackets that swallow the rest of the file) is an error of the whole file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/files.h"

namespace vlm::data {

enum class CorpusFormat { kJsonArray, kJsonLines };

// JSON Lines for names ending in .jsonl, a JSON array otherwise (as data::read_corpus decides).
CorpusFormat corpus_format_of(const std::string& path);
const char* corpus_format_name(CorpusFormat format);  // "json_array" | "json_lines"

class RecordStream {
 public:
  // Reads from byte `offset`, which is 0 (the start of the file) or an offset where a record
  // starts (one that scan_corpus reported). Throws IoError when the file cannot be opened.
  RecordStream(const std::string& path, CorpusFormat format, uint64_t offset = 0);
  ~RecordStream();
  RecordStream(const RecordStream&) = delete;
  RecordStream& operator=(const RecordStream&) = delete;

  // The next record's text and the byte offset where it starts; false after the last record.
  // Throws FormatError naming the file and byte offset when a JSON array's structure is broken.
  bool next(std::string& record, uint64_t& offset);
  // Like next() without keeping the text (planning). Also feeds every byte read to the checksum.
  bool skip(uint64_t& offset);
  // Keeps at most `bytes` of each record's text (the scan still reads past them to find its
  // end), so one huge record costs no more memory than the cap.
  void set_max_record_bytes(uint64_t bytes) { max_record_bytes_ = bytes; }
  // The whole length of the record next() returned last, kept bytes or not.
  uint64_t last_record_bytes() const { return record_bytes_; }

  // files::Checksum text of the bytes read so far (the whole file once next()/skip() returned
  // false, when the stream started at offset 0).
  std::string checksum() const { return checksum_.text(); }
  uint64_t bytes_read() const { return file_offset_; }

 private:
  enum class State { kBeforeArray, kBeforeElement, kInElement, kAfterElement, kAfterArray };

  bool advance(std::string* record, uint64_t& offset);
  bool next_line(std::string* record, uint64_t& offset);
  bool next_element(std::string* record, uint64_t& offset);
  bool refill();
  void append(std::string* record, const char* bytes, size_t count);
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  CorpusFormat format_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  size_t begin_ = 0;            // next unread byte in buffer_
  size_t end_ = 0;              // bytes valid in buffer_
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  uint64_t file_offset_ = 0;    // file offset of buffer_[end_]
  bool eof_ = false;
  uint64_t max_record_bytes_ = UINT64_MAX;
  uint64_t record_bytes_ = 0;
  files::Checksum checksum_;
  State state_;
};

// What the planning pass learns about one corpus file.
struct CorpusScan {
  int64_t records = 0;      // records, valid or not
  uint64_t size_bytes = 0;  // bytes of the file
  std::string checksum;     // files::Checksum text of the whole file
  // Start offsets of records 0, K, 2K, ...: the first record of each shard of K records. Only
  // these are kept, so memory grows with records / K, not with the corpus.
  std::vector<uint64_t> shard_starts;
};

// One streaming pass over a corpus file. Throws IoError / FormatError like RecordStream.
CorpusScan scan_corpus(const std::string& path, CorpusFormat format, int64_t records_per_shard);

}  // namespace vlm::data
