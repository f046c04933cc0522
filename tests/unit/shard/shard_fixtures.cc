#include "tests/unit/shard/shard_fixtures.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "data/image.h"

namespace vlm::testing {

std::string small_jpeg(int width, int height, int seed) {
  data::RgbImage image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height; ++i) {
    image.pixels.insert(image.pixels.end(),
                        {static_cast<uint8_t>(40 * seed + i), static_cast<uint8_t>(3 * i), 200});
  }
  return data::encode_jpeg(image, 95);
}

std::string small_png(int width, int height) {
  // A minimal PNG header is enough for the header check: signature, IHDR with the size.
  std::string png("\x89PNG\r\n\x1A\n", 8);
  const std::string ihdr_length("\0\0\0\x0D", 4);
  auto be32 = [](int v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  png += ihdr_length + "IHDR" + be32(width) + be32(height) + std::string("\x08\x02\0\0\0", 5);
  png += std::string(4, '\0');  // CRC (stb's header parser does not check it)
  return png;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string caption_record(const std::string& id, const std::string& image,
                           const std::string& caption) {
  return R"({"id": ")" + id + R"(", "image": ")" + image +
         R"(", "conversations": [{"from": "human", "value": "<image>\nDescribe it."}, )" +
         R"({"from": "gpt", "value": ")" + caption + R"("}]})";
}

std::string text_record(const std::string& id, const std::string& answer) {
  return R"({"id": ")" + id +
         R"(", "conversations": [{"from": "human", "value": "Is it {[\"tricky\"]}, ok?"}, )" +
         R"({"from": "gpt", "value": ")" + answer + R"("}]})";
}

void write_json_array(const std::string& path, const std::vector<std::string>& records) {
  std::string text = "[\n";
  for (size_t i = 0; i < records.size(); ++i) {
    text += records[i] + (i + 1 < records.size() ? ",\n" : "\n");
  }
  write_file(path, text + "]\n");
}

void write_json_lines(const std::string& path, const std::vector<std::string>& records) {
  std::string text;
  for (const std::string& record : records) text += record + "\n";
  write_file(path, text);
}

std::string jpeg_declaring(int width, int height) {
  std::string jpeg = small_jpeg(8, 8);
  // The SOF0 segment: FF C0, length (2), precision (1), height (2), width (2), big-endian.
  const size_t sof = jpeg.find("\xFF\xC0", 2);
  if (sof == std::string::npos || sof + 9 > jpeg.size()) return {};
  jpeg[sof + 5] = static_cast<char>(height >> 8);
  jpeg[sof + 6] = static_cast<char>(height & 0xFF);
  jpeg[sof + 7] = static_cast<char>(width >> 8);
  jpeg[sof + 8] = static_cast<char>(width & 0xFF);
  return jpeg;
}

}  // namespace vlm::testing
