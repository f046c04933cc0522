// vlm-shard's validation of one corpus record, in two steps: the record's text (JSON, schema,
// conversation shape), then its images (path beneath the root, file readable, header valid).
// The rules mirror what the loader's templates accept (data/templates.cc), without depending on
// a template: a record that passes is usable by every template that takes its number of rounds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/image_root.h"
#include "data/shard_format.h"

namespace vlm::data {

struct RecordCheck {
  std::optional<SkipReason> skip;  // empty: the record is usable so far
  std::string detail;              // why, when skipped
  std::string id;                  // for a malformed record: what its text shows, if anything
  std::vector<std::string> image_paths;
  int64_t text_length = 0;  // whitespace-separated words over all turns (LLaVA's modality_length)
};

// Parses and checks a record's text. Turn order: an optional first "system" turn, then an
// optional "gpt" turn (LLaVA skips it), then human/gpt pairs, at least one, each question
// answered. "<image>" placeholders: only in human turns, as many as the record has images.
RecordCheck check_record(std::string_view json);

// Reads and checks the record's images; on success fills images and returns nothing. The first
// failing image decides the reason (kImageOutsideRoot, kMissingImage, kUndecodableImage) and
// detail names its path.
std::optional<SkipReason> load_images(const ImageRoot& root, const std::vector<std::string>& paths,
                                      std::vector<EncodedImage>& images, std::string& detail);

// Words as Python's str.split() counts them for ASCII white space.
int64_t count_words(std::string_view text);

}  // namespace vlm::data
