#include "models/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/error.h"
#include "common/files.h"
#include "models/safetensors_header.h"
#include "tests/support/temp_dir.h"

namespace vlm::models {
namespace {

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

// A file assembled by hand from a header text and data bytes (no writer involved).
std::string handmade(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

NamedTensors sample_tensors() {
  return {{"f32", at::arange(6, at::kFloat).view({2, 3}) / 7},
          {"f16", at::arange(4, at::kFloat).to(at::kHalf) / 3},
          {"bf16", (at::arange(5, at::kFloat) * 1.37).to(at::kBFloat16)},
          {"f64", at::arange(3, at::kDouble) / 11},
          {"i64", at::tensor(std::vector<int64_t>{-5, int64_t{1} << 40, 7})},
          {"i32", at::tensor(std::vector<int32_t>{-3, 2, 9})},
          {"scalar", at::scalar_tensor(2.5, at::kFloat)},
          {"empty", at::zeros({0, 3})},
          {"strided", at::arange(12, at::kFloat).view({3, 4}).t()}};
}

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  testing::TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const NamedTensors tensors = sample_tensors();
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "hi"}});
  const SafetensorsReader reader(path);
  EXPECT_EQ(reader.metadata().at("note"), "hi");
  EXPECT_EQ(reader.entries().size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor back = reader.read(name);
    EXPECT_EQ(back.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(at::equal(back, tensor)) << name;
  }
  EXPECT_FALSE(files::exists(path + ".tmp"));
}

// The header check (torch-free, safetensors_header.h) sizes each dtype by name; the reader maps
// the same names to tensor types: both tables must agree.
TEST(Safetensors, HeaderAndReaderAgreeOnEveryDtype) {
  for (const std::string name : {"F32", "F16", "BF16", "F64", "I64", "I32"}) {
    EXPECT_EQ(safetensors_element_bytes(name), at::elementSize(safetensors_dtype(name))) << name;
    EXPECT_EQ(safetensors_dtype_name(safetensors_dtype(name)), name);
  }
  for (const std::string name : {"U8", "F8_E4M3", "BOOL", ""}) {
    EXPECT_EQ(safetensors_element_bytes(name), 0u) << name;
    EXPECT_THROW(safetensors_dtype(name), FormatError) << name;
  }
}

TEST(Safetensors, HeaderIsPaddedWithSpacesToAMultipleOfEight) {
  for (int extra = 0; extra < 8; ++extra) {
    const std::string name = "t" + std::string(extra, 'x');
    const std::string bytes = safetensors_bytes({{name, at::ones({1})}});
    uint64_t length = 0;
    std::memcpy(&length, bytes.data(), 8);
    EXPECT_EQ(length % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + length + 4);
    EXPECT_EQ(bytes[0 + 8], '{');
    const std::string header = bytes.substr(8, length);
    EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  }
}

TEST(Safetensors, ReadsAHandmadeFile) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const auto reader =
      SafetensorsReader::from_bytes(handmade(header, float_bytes({1.5f, -2.0f, 3.25f})), "mem");
  EXPECT_TRUE(at::equal(reader.read("a"), at::tensor({1.5f, -2.0f})));
  EXPECT_TRUE(at::equal(reader.read("b"), at::tensor({3.25f})));
  at::Tensor into = at::zeros({2}, at::kDouble);
  reader.read_into("a", into);
  EXPECT_TRUE(at::equal(into, at::tensor({1.5, -2.0}, at::kDouble)));
  EXPECT_THROW(reader.read_into("a", at::zeros({3})), ShapeError);
  EXPECT_THROW(reader.read("c"), ShapeError);
}

// Each malformed file must be a FormatError whose message names the file and the tensor.
void expect_format_error(const std::string& bytes, const std::string& tensor,
                         const std::string& detail) {
  try {
    SafetensorsReader::from_bytes(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error for a file with " << detail;
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("bad.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find(tensor), std::string::npos) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
  }
}

TEST(Safetensors, NamesTheProblemInMalformedFiles) {
  const std::string data = float_bytes({1, 2, 3, 4});
  auto entry = [](const std::string& name, const std::string& body) {
    return "\"" + name + "\":{" + body + "}";
  };
  const std::string good_a = entry("a", R"("dtype":"F32","shape":[2],"data_offsets":[0,8])");
  expect_format_error(
      handmade("{" + good_a + "," +
                   entry("w", R"("dtype":"F32","shape":[2],"data_offsets":[8,24])") + "}",
               data),
      "'w'", "lie outside the data section");
  expect_format_error(
      handmade("{" + good_a + "," +
                   entry("o", R"("dtype":"F32","shape":[2],"data_offsets":[4,12])") + "}",
               data),
      "'o'", "overlaps tensor 'a'");
  expect_format_error(
      handmade("{" + entry("s", R"("dtype":"F32","shape":[3],"data_offsets":[0,8])") + "}", data),
      "'s'", "need 12");
  expect_format_error(
      handmade("{" + entry("d", R"("dtype":"Q4","shape":[2],"data_offsets":[0,8])") + "}", data),
      "'d'", "unsupported dtype 'Q4'");
  expect_format_error(
      handmade("{" + entry("n", R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])") + "}", data),
      "'n'", "not a non-negative integer");
  expect_format_error(
      handmade("{" + entry("x", R"("dtype":"F32","shape":[2],"data_offsets":[8,0])") + "}", data),
      "'x'", "lie outside");
  expect_format_error(handmade("{" +
                                   entry("h", R"("dtype":"F32","shape":[4294967296,4294967296,16])"
                                              R"(,"data_offsets":[0,8])") +
                                   "}",
                               data),
                      "'h'", "overflows");
  expect_format_error(handmade(R"({"a":{"dtype":"F32","shape":[2],)", data), "", "not valid JSON");
  expect_format_error(handmade(R"({"m":[1,2]})", data), "'m'", "not a JSON object");
  expect_format_error(le64(1000) + "{}", "", "header length 1000");
  expect_format_error("abc", "", "too short");
  expect_format_error(handmade(std::string(50, '[') + std::string(50, ']'), ""), "", "nested");
}

// Random damage to a valid file: it must load or throw FormatError, never crash or throw
// anything else (run under AddressSanitizer with -DVLM_SANITIZE=ON).
TEST(Safetensors, SurvivesRandomMutations) {
  const std::string valid = safetensors_bytes(sample_tensors(), {{"format", "pt"}});
  uint64_t header_length = 0;
  std::memcpy(&header_length, valid.data(), 8);
  std::mt19937_64 rng(12345);
  int loaded = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = valid;
    switch (round % 4) {
      case 0: {  // byte flips, mostly in the header
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) {
          const size_t at = rng() % (rng() % 8 == 0 ? bytes.size() : 8 + header_length);
          bytes[at] = static_cast<char>(rng());
        }
        break;
      }
      case 1:  // truncation
        bytes.resize(rng() % bytes.size());
        break;
      case 2: {  // a lying header length
        const uint64_t lie = rng() % 4 == 0 ? rng() : rng() % (bytes.size() + 16);
        bytes.replace(0, 8, le64(lie));
        break;
      }
      default: {  // digits in the header changed (shapes and offsets that lie)
        for (int i = 0; i < 3; ++i) {
          const size_t at = 8 + rng() % header_length;
          if (std::isdigit(static_cast<unsigned char>(bytes[at]))) {
            bytes[at] = static_cast<char>('0' + rng() % 10);
          }
        }
        break;
      }
    }
    try {
      const auto reader = SafetensorsReader::from_bytes(bytes, "mutant");
      for (const auto& entry : reader.entries()) reader.read(entry.name);
      ++loaded;
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(loaded, 10);
}

TEST(Safetensors, MissingFileIsAnIoError) {
  EXPECT_THROW(SafetensorsReader("/nonexistent/x.safetensors"), IoError);
}

}  // namespace
}  // namespace vlm::models
