// The HDF5 shard format (version 1) that vlm-shard writes and the loader reads. One shard holds
// the valid records of one source's record range [first_record, first_record + record_count),
// in record order; the records of the range that were skipped are listed with their reasons.
//
// Layout of a shard file (all integers little-endian; "ragged" = a group with `data`, uint8 bytes
// of all entries concatenated, and `offsets`, int64[n + 1], entry i = data[offsets[i],
// offsets[i+1])):
//   /                     attributes format_version (int64), source, source_checksum (string),
//                         first_record, record_count, sample_count, image_total (int64),
//                         fingerprint (string: the options that shaped the content)
//   /samples/record_index int64[n]  the sample's record index within its source
//   /samples/text_length  int64[n]  whitespace-separated words over all turns (LLaVA's
//                                   modality_length before its sign)
//   /samples/image_count  int32[n]  images of the sample (0: text-only)
//   /samples/id           ragged    the record's "id" (integers as decimal text)
//   /samples/record       ragged    the record's JSON exactly as given in the input
//   /images/data, /images/offsets   ragged, one entry per image, samples' images in order
//   /images/width, /images/height   int32[total images], from the image header
//   /skipped/record_index int64[m]; /skipped/id, /skipped/reason, /skipped/detail: ragged
// Files carry no timestamps, host names or rank numbers: the same range of the same input gives
// the same bytes, whichever rank writes it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vlm::data {

constexpr int64_t kShardFormatVersion = 1;

// Why a record was not written. The names are part of the format (index.json, skipped.jsonl).
enum class SkipReason {
  kMalformedJson,        // not JSON, or not a record: no "conversations" list of turns, ...
  kEmptyConversation,    // no turns besides a system prompt
  kBadTurnOrder,         // not human/gpt alternating (after an optional system turn and
                         // LLaVA's skipped first gpt turn), or a question without an answer
  kPlaceholderMismatch,  // "<image>" placeholders do not match the images (or one in an answer)
  kImageOutsideRoot,     // absolute path, "..", or a symlink leading out of the image root
  kMissingImage,         // the image file is missing or unreadable
  kUndecodableImage,     // not a JPEG/PNG, or its header gives no valid dimensions
  kOversizedImage,       // over data::ImageLimits: file bytes, or pixels by its header
  kOversizedRecord,      // the record's text is over the byte cap (vlm-shard --max-record-bytes)
};
constexpr int kSkipReasonCount = 9;
constexpr std::array<SkipReason, kSkipReasonCount> kAllSkipReasons = {
    SkipReason::kMalformedJson,       SkipReason::kEmptyConversation, SkipReason::kBadTurnOrder,
    SkipReason::kPlaceholderMismatch, SkipReason::kImageOutsideRoot,  SkipReason::kMissingImage,
    SkipReason::kUndecodableImage,    SkipReason::kOversizedImage,    SkipReason::kOversizedRecord};

const char* skip_reason_name(SkipReason reason);
// Throws FormatError for an unknown name.
SkipReason skip_reason_from_name(const std::string& name);

// Identity of a shard: which input range it holds and under which options.
struct ShardHeader {
  std::string source;           // the source's name
  std::string source_checksum;  // files::Checksum text of the whole input file
  int64_t first_record = 0;     // first record index (within the source) of the range
  int64_t record_count = 0;     // records in the range, valid or not
  std::string fingerprint;      // options that shape the content (image root, format version)

  bool operator==(const ShardHeader& other) const;
};

struct EncodedImage {
  std::string bytes;  // the file's bytes, as read
  int32_t width = 0;
  int32_t height = 0;
};

struct ShardSample {
  int64_t record_index = 0;  // within the source
  std::string id;
  std::string source;       // filled by the reader from the shard's header
  std::string record_json;  // the record as given
  std::vector<EncodedImage> images;
  int64_t text_length = 0;
};

struct SkippedRecord {
  int64_t record_index = 0;
  std::string id;  // empty when the record is too broken to have one
  SkipReason reason = SkipReason::kMalformedJson;
  std::string detail;  // e.g. the image path or the parser's message
};

}  // namespace vlm::data
