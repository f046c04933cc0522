#include "data/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "common/error.h"

namespace vlm::data {
namespace {

// One output pixel of a 1-D resampling: input taps [first, first + weights.size()).
struct Taps {
  int first = 0;
  std::vector<float> weights;
};

// Area averaging: output pixel o covers input [o * scale, (o + 1) * scale).
std::vector<Taps> area_taps(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int o = 0; o < out; ++o) {
    const double begin = o * scale;
    const double end = (o + 1) * scale;
    const int first = static_cast<int>(std::floor(begin));
    const int last = std::min(in - 1, static_cast<int>(std::ceil(end)) - 1);
    taps[o].first = first;
    for (int i = first; i <= last; ++i) {
      const double overlap = std::min(end, i + 1.0) - std::max(begin, static_cast<double>(i));
      taps[o].weights.push_back(static_cast<float>(overlap / scale));
    }
  }
  return taps;
}

// Bilinear, pixel centres aligned: output o samples input position (o + 0.5) * in / out - 0.5.
std::vector<Taps> bilinear_taps(int in, int out) {
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int o = 0; o < out; ++o) {
    const double position =
        std::clamp((o + 0.5) * in / out - 0.5, 0.0, static_cast<double>(in - 1));
    const int first = std::min(static_cast<int>(position), std::max(in - 2, 0));
    const float right = static_cast<float>(position - first);
    taps[o].first = first;
    taps[o].weights = in == 1 ? std::vector<float>{1.0f} : std::vector<float>{1.0f - right, right};
  }
  return taps;
}

std::vector<Taps> resize_taps(int in, int out) {
  return out <= in ? area_taps(in, out) : bilinear_taps(in, out);
}

// Resizes interleaved RGB to size x size, as floats in 0..255 (CHW).
std::vector<float> resize_to_planes(const RgbImage& image, int size) {
  const auto columns = resize_taps(image.width, size);
  const auto rows = resize_taps(image.height, size);
  // Horizontal pass: height x size x 3.
  std::vector<float> wide(static_cast<size_t>(image.height) * size * 3);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* row = image.pixels.data() + static_cast<size_t>(y) * image.width * 3;
    for (int x = 0; x < size; ++x) {
      const Taps& taps = columns[x];
      for (int c = 0; c < 3; ++c) {
        float sum = 0.0f;
        for (size_t t = 0; t < taps.weights.size(); ++t) {
          sum += taps.weights[t] * row[(taps.first + t) * 3 + c];
        }
        wide[(static_cast<size_t>(y) * size + x) * 3 + c] = sum;
      }
    }
  }
  // Vertical pass into planes.
  const size_t plane = static_cast<size_t>(size) * size;
  std::vector<float> planes(3 * plane);
  for (int y = 0; y < size; ++y) {
    const Taps& taps = rows[y];
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < 3; ++c) {
        float sum = 0.0f;
        for (size_t t = 0; t < taps.weights.size(); ++t) {
          sum += taps.weights[t] * wide[((taps.first + t) * size + x) * 3 + c];
        }
        planes[c * plane + static_cast<size_t>(y) * size + x] = sum;
      }
    }
  }
  return planes;
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                             static_cast<size_t>(size));
}

}  // namespace

RgbImage decode_image(std::string_view bytes, const std::string& what, int64_t max_pixels) {
  VLM_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), FormatError, what,
            ": image file too large");
  int width = 0;
  int height = 0;
  int channels = 0;
  VLM_CHECK(read_image_header(bytes, width, height), FormatError, "cannot decode image ", what,
            ": not a JPEG or PNG with valid dimensions");
  const std::string too_many = pixel_cap_error(width, height, ImageLimits{0, max_pixels});
  VLM_CHECK(too_many.empty(), FormatError, "image ", what, ": ", too_many);
  stbi_uc* data =
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                            static_cast<int>(bytes.size()), &width, &height, &channels, 3);
  VLM_CHECK(data != nullptr, FormatError, "cannot decode image ", what, ": ",
            stbi_failure_reason());
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(data, data + static_cast<size_t>(width) * height * 3);
  stbi_image_free(data);
  return image;
}

std::string encode_jpeg(const RgbImage& image, int quality) {
  VLM_CHECK(image.width > 0 && image.height > 0 &&
                image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
            InternalError, "encode_jpeg: image of ", image.width, "x", image.height, " has ",
            image.pixels.size(), " bytes");
  std::string out;
  const int ok = stbi_write_jpg_to_func(append_bytes, &out, image.width, image.height, 3,
                                        image.pixels.data(), quality);
  VLM_CHECK(ok != 0, InternalError, "JPEG encoding failed");
  return out;
}

RgbImage pad_to_square(const RgbImage& image) {
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  const int left = (side - image.width) / 2;
  const int top = (side - image.height) / 2;
  RgbImage square;
  square.width = square.height = side;
  square.pixels.resize(static_cast<size_t>(side) * side * 3);
  for (size_t i = 0; i < square.pixels.size(); i += 3) {
    std::copy(kClipPadColour.begin(), kClipPadColour.end(), square.pixels.begin() + i);
  }
  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  for (int y = 0; y < image.height; ++y) {
    std::copy_n(image.pixels.begin() + y * row_bytes, row_bytes,
                square.pixels.begin() + ((static_cast<size_t>(top) + y) * side + left) * 3);
  }
  return square;
}

void preprocess(const RgbImage& image, int size, const std::string& aspect,
                std::vector<float>& out) {
  VLM_CHECK(aspect == "square" || aspect == "pad", ConfigError, "data.image_aspect: unknown '",
            aspect, "' (square or pad)");
  VLM_CHECK(size > 0 && image.width > 0 && image.height > 0, InternalError,
            "preprocess: empty image or size");
  const bool pad = aspect == "pad" && image.width != image.height;
  const std::vector<float> planes = resize_to_planes(pad ? pad_to_square(image) : image, size);
  const size_t plane = static_cast<size_t>(size) * size;
  out.reserve(out.size() + planes.size());
  for (size_t c = 0; c < 3; ++c) {
    const float scale = 1.0f / (255.0f * kClipStd[c]);
    const float shift = kClipMean[c] / kClipStd[c];
    for (size_t i = 0; i < plane; ++i) out.push_back(planes[c * plane + i] * scale - shift);
  }
}

}  // namespace vlm::data
