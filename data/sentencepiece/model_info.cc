#include "data/sentencepiece/model_info.h"

#include "common/error.h"

namespace vlm::data {
namespace {

// Field numbers of sentencepiece_model.proto that we read.
constexpr uint64_t kModelPieces = 1;            // ModelProto.pieces (repeated SentencePiece)
constexpr uint64_t kModelNormalizerSpec = 3;    // ModelProto.normalizer_spec
constexpr uint64_t kPieceText = 1;              // SentencePiece.piece
constexpr uint64_t kPieceType = 3;              // SentencePiece.type
constexpr uint64_t kNormalizerDummyPrefix = 3;  // NormalizerSpec.add_dummy_prefix
constexpr uint64_t kTypeUserDefined = 4;

enum WireType : uint64_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A cursor over one protobuf message.
class WireReader {
 public:
  WireReader(std::string_view bytes, const std::string& what) : bytes_(bytes), what_(what) {}

  bool done() const { return pos_ >= bytes_.size(); }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      VLM_CHECK(pos_ < bytes_.size(), FormatError, what_, ": truncated SentencePiece model");
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    VLM_THROW(FormatError, what_, ": malformed varint in the SentencePiece model");
  }

  std::string_view bytes(uint64_t length) {
    VLM_CHECK(length <= bytes_.size() - pos_, FormatError, what_,
              ": truncated SentencePiece model");
    const auto out = bytes_.substr(pos_, length);
    pos_ += length;
    return out;
  }

  void skip(uint64_t wire_type) {
    switch (wire_type) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        bytes(8);
        return;
      case kLengthDelimited:
        bytes(varint());
        return;
      case kFixed32:
        bytes(4);
        return;
      default:
        VLM_THROW(FormatError, what_, ": not a SentencePiece model (wire type ", wire_type, ")");
    }
  }

 private:
  std::string_view bytes_;
  const std::string& what_;
  size_t pos_ = 0;
};

struct PieceFields {
  std::string text;
  uint64_t type = 1;  // NORMAL
};

PieceFields read_piece(std::string_view message, const std::string& what) {
  PieceFields piece;
  WireReader reader(message, what);
  while (!reader.done()) {
    const uint64_t key = reader.varint();
    if ((key >> 3) == kPieceText && (key & 7) == kLengthDelimited) {
      piece.text = std::string(reader.bytes(reader.varint()));
    } else if ((key >> 3) == kPieceType && (key & 7) == kVarint) {
      piece.type = reader.varint();
    } else {
      reader.skip(key & 7);
    }
  }
  return piece;
}

bool read_dummy_prefix(std::string_view message, const std::string& what) {
  bool add_dummy_prefix = true;
  WireReader reader(message, what);
  while (!reader.done()) {
    const uint64_t key = reader.varint();
    if ((key >> 3) == kNormalizerDummyPrefix && (key & 7) == kVarint) {
      add_dummy_prefix = reader.varint() != 0;
    } else {
      reader.skip(key & 7);
    }
  }
  return add_dummy_prefix;
}

}  // namespace

SentencePieceModelInfo read_model_info(std::string_view serialized, const std::string& what) {
  SentencePieceModelInfo info;
  WireReader reader(serialized, what);
  int32_t piece_id = 0;
  while (!reader.done()) {
    const uint64_t key = reader.varint();
    const uint64_t field = key >> 3;
    if (field == kModelPieces && (key & 7) == kLengthDelimited) {
      const PieceFields piece = read_piece(reader.bytes(reader.varint()), what);
      if (piece.type == kTypeUserDefined) info.user_defined.emplace_back(piece.text, piece_id);
      ++piece_id;
    } else if (field == kModelNormalizerSpec && (key & 7) == kLengthDelimited) {
      info.add_dummy_prefix = read_dummy_prefix(reader.bytes(reader.varint()), what);
    } else {
      reader.skip(key & 7);
    }
  }
  return info;
}

}  // namespace vlm::data
