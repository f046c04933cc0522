// What libsentencepiece's public API does not tell: which pieces are user-defined symbols, and
// whether the model adds a dummy prefix. Read from the serialized ModelProto (protobuf wire
// format) so that we need neither protobuf nor SentencePiece's private headers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vlm::data {

struct SentencePieceModelInfo {
  std::vector<std::pair<std::string, int32_t>> user_defined;  // piece, id
  bool add_dummy_prefix = true;                               // NormalizerSpec's default
};

// Throws FormatError (naming `what`) when the bytes are not a well-formed ModelProto.
SentencePieceModelInfo read_model_info(std::string_view serialized, const std::string& what);

}  // namespace vlm::data
