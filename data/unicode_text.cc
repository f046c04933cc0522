// UTF-8, Oniguruma's character classes and NFC from ICU: see data/unicode_text.h.
#include "data/unicode_text.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include "common/error.h"

namespace vlm::data {
namespace {

// Oniguruma 6.9.8's Unicode tables are those of Unicode 14.0.
bool known_to_oniguruma(char32_t code) {
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(code), age);
  return age[0] < 14 || (age[0] == 14 && age[1] == 0);
}

CharClass ascii_class(char32_t code) {
  if ((code | 0x20) >= 'a' && (code | 0x20) <= 'z') return CharClass::kLetter;
  if (code >= '0' && code <= '9') return CharClass::kNumber;
  if (code == ' ' || (code >= 0x09 && code <= 0x0D)) return CharClass::kSpace;
  return CharClass::kOther;
}

const icu::Normalizer2& nfc_normalizer() {
  static const icu::Normalizer2* const normalizer = [] {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* instance = icu::Normalizer2::getNFCInstance(status);
    VLM_CHECK(U_SUCCESS(status) && instance != nullptr, InternalError,
              "ICU has no NFC normalizer: ", u_errorName(status));
    return instance;
  }();
  return *normalizer;
}

// Appends the NFC form of well-formed UTF-8.
void append_nfc(std::string_view text, std::string& out) {
  if (text.empty()) return;
  const icu::Normalizer2& normalizer = nfc_normalizer();
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  UErrorCode status = U_ZERO_ERROR;
  if (normalizer.isNormalizedUTF8(piece, status) && U_SUCCESS(status)) {
    out.append(text);
    return;
  }
  status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out);
  normalizer.normalizeUTF8(0, piece, sink, nullptr, status);
  VLM_CHECK(U_SUCCESS(status), InternalError, "ICU's NFC failed: ", u_errorName(status));
}

}  // namespace

CharClass char_class(char32_t code) {
  if (code < 0x80) return ascii_class(code);
  if (code == 0x85) return CharClass::kSpace;  // NEXT LINE: a control, yet \s in Oniguruma
  const auto type = static_cast<UCharCategory>(u_charType(static_cast<UChar32>(code)));
  if (type == U_SPACE_SEPARATOR || type == U_LINE_SEPARATOR || type == U_PARAGRAPH_SEPARATOR) {
    return CharClass::kSpace;
  }
  const uint32_t mask = U_MASK(type);
  if ((mask & (U_GC_L_MASK | U_GC_N_MASK)) == 0 || !known_to_oniguruma(code)) {
    return CharClass::kOther;
  }
  return (mask & U_GC_L_MASK) != 0 ? CharClass::kLetter : CharClass::kNumber;
}

bool folds_to(char32_t code, char lower) {
  return u_foldCase(static_cast<UChar32>(code), U_FOLD_CASE_DEFAULT) ==
         static_cast<UChar32>(static_cast<unsigned char>(lower));
}

std::optional<std::pair<char32_t, size_t>> read_utf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return std::make_pair(char32_t{lead}, size_t{1});
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;  // excludes overlongs and surrogates
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return std::nullopt;
  }
  if (pos + length > text.size() || byte(1) < second_min || byte(1) > second_max) {
    return std::nullopt;
  }
  char32_t code = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return std::nullopt;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  return std::make_pair(code, length);
}

void append_utf8(char32_t code, std::string& out) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

std::string nfc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t stretch = 0;  // start of the current well-formed stretch
  for (size_t pos = 0; pos < text.size();) {
    const auto decoded = read_utf8(text, pos);
    if (decoded) {
      pos += decoded->second;
      continue;
    }
    append_nfc(text.substr(stretch, pos - stretch), out);
    out += text[pos];
    stretch = ++pos;
  }
  append_nfc(text.substr(stretch), out);
  return out;
}

}  // namespace vlm::data
