// Corpus readers: LLaVA's JSON array (558K, 665K) and VoRA-style JSON Lines.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "data/conversation.h"

namespace vlm::data {

// Reads a whole corpus file: a JSON array of records, or JSON Lines (one record per line) when
// the file name ends in .jsonl. A record is {"id", "image": path or [paths] (LLaVA) or
// "frames": [paths] (VoRA), "conversations": [{"from", "value"}], "category"}; everything but
// "conversations" is optional, and no (or an empty) image list marks a text-only sample.
// vlm-eval's question sets use it; training reads record by record instead (data::RecordStream
// with parse_record, in vlm-shard and in training from JSON), so that one bad record is one
// skipped sample rather than a refused file. A missing file is an IoError that says how to make a
// corpus; malformed content is a FormatError naming the file and the record index (JSON array) or
// line (JSON Lines, and JSON syntax errors).
std::vector<Conversation> read_corpus(const std::string& path);
// IoError saying how to make a corpus when path does not exist (read_corpus's own check, for the
// readers that stream a corpus instead).
void check_corpus_exists(const std::string& path);

// Parses one record's JSON text (the schema above) with a streaming (SAX) parser: the one reader
// of records, for read_corpus, vlm-shard and training alike (tests hold it to a document parse of
// the same rules). Throws FormatError saying what is wrong, without a file or position (the
// caller knows them).
Conversation parse_record(std::string_view json);

}  // namespace vlm::data
