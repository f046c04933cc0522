// Corpus readers: LLaVA's JSON array (558K, 665K) and VoRA-style JSON Lines.
#pragma once

#include <string>
#include <vector>

#include "data/conversation.h"

namespace vlm::data {

// Reads a whole corpus file (JSON array, or JSON Lines when the file ends in .jsonl). Issue 3's
// shards replace this on the training path; it stays for small corpora, eval sets and vlm-shard.
// Throws FormatError naming the file and the record.
std::vector<Conversation> read_corpus(const std::string& path);

}  // namespace vlm::data
