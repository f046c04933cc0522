// vlm-tokenize --tokenizer PATH [--add-token T ...] [--decode | --records TEMPLATE]: what the
// model sees. Reads one JSON string per line on stdin and prints one JSON array of token ids per
// line (--decode: arrays in, strings out; --records: corpus records in, as JSON Lines, and
// {"ids": [...], "labels": [...]} out, rendered with the template and tokenized as training does,
// each image one kImageToken (-200), as LLaVA's tokenizer_image_token writes it). A line that is
// not what it should be (a record the template refuses, too) is reported on stderr with its
// number; its output line is "null", so that output line i always answers input line i; the exit
// code is then 2.
// --images: image files in (one JSON string, a path, per line), what the vision tower gets out:
// {"width", "height", "crop": the uint8 image the processor normalizes (row-major RGB),
// "pixels": the CHW floats}, preprocessed as training does (data/image.h) with --image-aspect,
// --pad-colour and the processor of --image-processor (a preprocessor_config.json or a model
// folder) or, without one, CLIP's at --image-size. With --base64, "crop" and "pixels" are
// base64 strings of their bytes (uint8; float32 little-endian): a 448 px image is 0.8 MB of text
// instead of 13 MB, for scripts that read many.
#include <CLI/CLI.hpp>
#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/main_support.h"
#include "common/error.h"
#include "common/files.h"
#include "data/conversation.h"
#include "data/corpus.h"
#include "data/image.h"
#include "data/tokenizer.h"

namespace {

using Json = nlohmann::json;

// Longer lines are refused (and skipped) rather than read whole: tokenizing one word of n bytes
// (a SentencePiece-style text is one word) takes some 50 n bytes of memory.
constexpr size_t kMaxLineBytes = size_t{4} << 20;
// Error messages may quote the line (a JSON parser's "last read: ..."): at most this much.
constexpr size_t kMaxMessageBytes = 300;

// Reads one line without its "\n"; false at the end of input. A line longer than the limit is
// skipped to its end and flagged.
bool read_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  int c;
  bool any = false;
  while ((c = in.get()) != std::char_traits<char>::eof()) {
    any = true;
    if (c == '\n') return true;
    if (line.size() < kMaxLineBytes) {
      line += static_cast<char>(c);
    } else {
      too_long = true;
    }
  }
  return any;
}

std::string id_array(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (const int32_t id : ids) {
    if (out.size() > 1) out += ", ";
    out += std::to_string(id);
  }
  return out + "]";
}

std::string encode_line(const vlm::data::Tokenizer& tokenizer, const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_string(), FormatError, "expected a JSON string");
  return id_array(tokenizer.encode(value.get<std::string>()));
}

// A corpus record (read_corpus's schema) rendered and tokenized as training does, untruncated.
std::string record_line(const vlm::data::Tokenizer& tokenizer, vlm::recipes::Template chat_template,
                        const std::string& line) {
  const vlm::data::Conversation conversation = vlm::data::parse_record(line);
  const vlm::data::TokenizedSample sample = vlm::data::tokenize(
      vlm::data::render(conversation, chat_template), tokenizer, /*image_tokens=*/1,
      /*max_seq_len=*/0);
  return "{\"ids\": " + id_array(sample.input_ids) + ", \"labels\": " + id_array(sample.labels) +
         "}";
}

// RFC 4648 base64 of a byte range, '='-padded (Boost's iterator leaves the padding out).
std::string base64(const void* data, size_t size) {
  using namespace boost::archive::iterators;
  using Encoder = base64_from_binary<transform_width<const char*, 6, 8>>;
  const char* bytes = static_cast<const char*>(data);
  std::string text(Encoder(bytes), Encoder(bytes + size));
  text.append((3 - size % 3) % 3, '=');
  return text;
}

// One image file, preprocessed; floats print as the shortest text that reads back as the same
// float32 (through double), so a reader compares them exactly, or as base64 of their bytes.
std::string image_line(const vlm::data::ImagePreprocessing& preprocessing, bool as_base64,
                       const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_string(), FormatError, "expected a JSON string (an image file)");
  const std::string path = value.get<std::string>();
  const vlm::data::RgbImage image = vlm::data::decode_image(vlm::files::read_all(path), path);
  const vlm::data::RgbImage crop = vlm::data::process_to_crop(image, preprocessing);
  std::vector<float> pixels;
  vlm::data::preprocess(image, preprocessing, pixels);
  Json out = {{"width", crop.width}, {"height", crop.height}};
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "--base64 writes float32 as in memory");
  if (as_base64) {
    out["crop"] = base64(crop.pixels.data(), crop.pixels.size());
    out["pixels"] = base64(pixels.data(), pixels.size() * sizeof(float));
    return out.dump();
  }
  out["crop"] = crop.pixels;
  Json floats = Json::array();
  for (const float x : pixels) floats.push_back(static_cast<double>(x));
  out["pixels"] = std::move(floats);
  return out.dump();
}

std::string decode_line(const vlm::data::Tokenizer& tokenizer, const std::string& line) {
  const Json value = Json::parse(line);
  VLM_CHECK(value.is_array(), FormatError, "expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (const Json& id : value) {
    VLM_CHECK(id.is_number_integer() && id.get<int64_t>() >= std::numeric_limits<int32_t>::min() &&
                  id.get<int64_t>() <= std::numeric_limits<int32_t>::max(),
              FormatError, "expected token ids (integers), got ", id.dump().substr(0, 40));
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  // Ids that end inside a UTF-8 character decode to bytes JSON cannot hold: those become U+FFFD.
  return Json(tokenizer.decode(ids)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

int tokenize_main(int argc, char** argv) {
  CLI::App app{
      "vlm-tokenize: token ids of text, as the model sees it. stdin: one JSON string per line; "
      "stdout: one JSON array of ids per line (--decode: the reverse; --records: corpus records "
      "in, {\"ids\", \"labels\"} out). A bad line prints null, is reported on stderr with its "
      "number, and makes the exit code 2"};
  std::string path;
  std::vector<std::string> added_tokens;
  bool decode = false;
  std::string template_name;
  auto* tokenizer_option = app.add_option(
      "--tokenizer", path, "a tokenizer.json, a tokenizer.model or a model folder holding one");
  app.add_option("--add-token", added_tokens,
                 "a token the run adds (e.g. <auto_image>), after the file's largest id; "
                 "repeatable");
  auto* decode_flag =
      app.add_flag("--decode", decode, "read arrays of ids, print the text they stand for");
  app.add_option("--records", template_name,
                 "read corpus records (JSON Lines), render them with this template (plain, "
                 "vicuna_v1, qwen2) and print their ids and labels, one -200 per image")
      ->excludes(decode_flag);
  bool images = false;
  std::string image_processor;
  int image_size = 0;
  vlm::recipes::DataSection image_data;
  auto* images_flag =
      app.add_flag("--images", images,
                   "read image file paths, print {width, height, crop, pixels} as training "
                   "preprocesses them")
          ->excludes(tokenizer_option)
          ->excludes(decode_flag);
  bool as_base64 = false;
  app.add_flag("--base64", as_base64,
               "with --images: crop and pixels as base64 of their bytes (uint8; float32 "
               "little-endian)")
      ->needs(images_flag);
  app.add_option("--image-processor", image_processor,
                 "with --images: a preprocessor_config.json or a model folder holding one")
      ->needs(images_flag);
  app.add_option("--image-size", image_size,
                 "with --images and no --image-processor: CLIP's processor at this size")
      ->needs(images_flag);
  const std::map<std::string, vlm::recipes::ImageAspect> aspects = {
      {"square", vlm::recipes::ImageAspect::kSquare}, {"pad", vlm::recipes::ImageAspect::kPad}};
  const std::map<std::string, vlm::recipes::PadColour> colours = {
      {"image_mean", vlm::recipes::PadColour::kImageMean},
      {"black", vlm::recipes::PadColour::kBlack}};
  app.add_option("--image-aspect", image_data.image_aspect, "with --images: data.image_aspect")
      ->transform(CLI::CheckedTransformer(aspects))
      ->needs(images_flag);
  app.add_option("--pad-colour", image_data.pad_colour, "with --images: data.pad_colour")
      ->transform(CLI::CheckedTransformer(colours))
      ->needs(images_flag);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }
  const std::optional<vlm::recipes::Template> chat_template =
      template_name.empty() ? std::nullopt : vlm::recipes::template_named(template_name);
  VLM_CHECK(template_name.empty() || chat_template, ConfigError, "--records: unknown conversation ",
            "template '", template_name, "' (plain, vicuna_v1 or qwen2)");
  VLM_CHECK(images || !path.empty(), ConfigError, "--tokenizer is required (or --images)");
  VLM_CHECK(!images || !image_processor.empty() || image_size > 0, ConfigError,
            "--images needs --image-processor or --image-size");
  vlm::data::ImagePreprocessing preprocessing;
  if (images) {
    preprocessing = vlm::data::image_preprocessing(
        image_data, image_processor.empty() ? vlm::data::clip_image_processor(image_size)
                                            : vlm::data::read_image_processor(image_processor));
  }
  std::unique_ptr<vlm::data::Tokenizer> tokenizer;
  if (!images) tokenizer = vlm::data::load_tokenizer(path, added_tokens);

  int bad_lines = 0;
  std::string line;
  bool too_long = false;
  for (int64_t number = 1; read_line(std::cin, line, too_long); ++number) {
    std::string out;
    try {
      VLM_CHECK(!too_long, FormatError, "longer than ", kMaxLineBytes, " bytes");
      if (images) {
        out = image_line(preprocessing, as_base64, line);
      } else if (chat_template) {
        out = record_line(*tokenizer, *chat_template, line);
      } else {
        out = decode ? decode_line(*tokenizer, line) : encode_line(*tokenizer, line);
      }
    } catch (const std::exception& e) {
      const std::string message = e.what();
      std::cerr << "vlm-tokenize: line " << number << ": " << message.substr(0, kMaxMessageBytes)
                << (message.size() > kMaxMessageBytes ? "...\n" : "\n");
      out = "null";
      ++bad_lines;
    }
    std::cout << out << '\n';
  }
  std::cout.flush();
  return bad_lines == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, tokenize_main); }
