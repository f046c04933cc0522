// The corpus record schema as a document parse (nlohmann's DOM, a repeated key keeping its last
// value): the reference data::parse_record (a SAX parser) is held to by the record parser's test
// and the fuzzer. Not used by the library.
#pragma once

#include <string_view>

#include "data/conversation.h"

namespace vlm::testing {

// The record, or FormatError naming what is wrong.
data::Conversation reference_record(std::string_view json);

}  // namespace vlm::testing
