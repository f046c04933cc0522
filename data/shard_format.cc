#include "data/shard_format.h"

#include "common/error.h"

namespace vlm::data {

const char* skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::kMalformedJson:
      return "malformed_json";
    case SkipReason::kEmptyConversation:
      return "empty_conversation";
    case SkipReason::kBadTurnOrder:
      return "bad_turn_order";
    case SkipReason::kPlaceholderMismatch:
      return "image_placeholder_mismatch";
    case SkipReason::kImageOutsideRoot:
      return "image_outside_root";
    case SkipReason::kMissingImage:
      return "missing_image";
    case SkipReason::kUndecodableImage:
      return "undecodable_image";
    case SkipReason::kOversizedImage:
      return "oversized_image";
    case SkipReason::kOversizedRecord:
      return "oversized_record";
  }
  VLM_THROW(InternalError, "unknown skip reason ", static_cast<int>(reason));
}

SkipReason skip_reason_from_name(const std::string& name) {
  for (const SkipReason reason : kAllSkipReasons) {
    if (name == skip_reason_name(reason)) return reason;
  }
  VLM_THROW(FormatError, "unknown skip reason '", name, "'");
}

bool ShardHeader::operator==(const ShardHeader& other) const {
  return source == other.source && source_checksum == other.source_checksum &&
         first_record == other.first_record && record_count == other.record_count &&
         fingerprint == other.fingerprint;
}

}  // namespace vlm::data
