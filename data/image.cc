#include "data/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>

#include "common/bounded_json.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::data {
namespace {

using nlohmann::json;

// Pillow's Resample.c, 8 bits per channel: weights in fixed point with this many fraction bits
// (32 - 8 - 2: a sum of 8-bit pixels times weights up to about 1.2 stays inside an int32).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's bicubic kernel, a = -0.5 (Keys' Catmull-Rom-like choice), support 2.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// The taps of one 1-D pass: output pixel o reads input [first[o], first[o] + count[o]) with the
// fixed-point weights weights[o * stride + k].
struct Taps {
  int stride = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs and normalize_coeffs_8bpc for the whole input [0, in). Each step is
// written as Pillow evaluates it (the same doubles in the same order), so the integer weights,
// and so the pixels, are Pillow's bit for bit.
Taps bicubic_taps(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  // Shrinking widens the kernel by the scale: every input pixel contributes (antialiasing).
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  Taps taps;
  taps.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(static_cast<size_t>(out));
  taps.count.resize(static_cast<size_t>(out));
  taps.weights.assign(static_cast<size_t>(out) * taps.stride, 0);
  std::vector<double> k(static_cast<size_t>(taps.stride));
  for (int o = 0; o < out; ++o) {
    const double center = (o + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Pillow rounds by adding 0.5 and truncating toward zero, then clamps.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic((x + xmin - center + 0.5) * ss);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double& w = k[static_cast<size_t>(x)];
      if (ww != 0.0) w /= ww;
      // Rounded half away from zero.
      taps.weights[static_cast<size_t>(o) * taps.stride + x] =
          w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[static_cast<size_t>(o)] = xmin;
    taps.count[static_cast<size_t>(o)] = xmax;
  }
  return taps;
}

// Pillow's clip8: the accumulator (which starts at one half) to a pixel, saturated.
uint8_t clip8(int32_t sum) {
  if (sum >= (1 << kPrecisionBits << 8)) return 255;
  if (sum <= 0) return 0;
  return static_cast<uint8_t>(sum >> kPrecisionBits);
}

// One pass along x (horizontal) or y: `taps` maps the image's extent along that axis to `out`.
RgbImage resample_pass(const RgbImage& image, const Taps& taps, int out, bool horizontal) {
  RgbImage result;
  result.width = horizontal ? out : image.width;
  result.height = horizontal ? image.height : out;
  result.pixels.resize(static_cast<size_t>(result.width) * result.height * 3);
  // Input pixel i along the axis, at the fixed other coordinate: base + i * step (in bytes).
  const size_t step = horizontal ? 3 : static_cast<size_t>(image.width) * 3;
  for (int y = 0; y < result.height; ++y) {
    for (int x = 0; x < result.width; ++x) {
      const int o = horizontal ? x : y;
      const size_t base =
          horizontal ? static_cast<size_t>(y) * image.width * 3 : static_cast<size_t>(x) * 3;
      const int32_t* k = taps.weights.data() + static_cast<size_t>(o) * taps.stride;
      const uint8_t* in = image.pixels.data() + base + taps.first[static_cast<size_t>(o)] * step;
      const int count = taps.count[static_cast<size_t>(o)];
      uint8_t* pixel = result.pixels.data() + (static_cast<size_t>(y) * result.width + x) * 3;
      for (int c = 0; c < 3; ++c) {
        int32_t sum = 1 << (kPrecisionBits - 1);
        for (int t = 0; t < count; ++t) sum += in[t * step + c] * k[t];
        pixel[c] = clip8(sum);
      }
    }
  }
  return result;
}

// Typed reading of a preprocessor_config.json, every message naming the file and the key.
class ConfigFields {
 public:
  ConfigFields(const json& root, std::string source) : root_(root), source_(std::move(source)) {}

  bool has(const char* key) const { return root_.contains(key) && !root_[key].is_null(); }

  [[noreturn]] void refuse(const char* key, const std::string& why) const {
    VLM_THROW(ConfigError, source_, ": '", key, "' = ", root_[key].dump().substr(0, 200), " ", why);
  }

  // A step HF runs when the key is absent (its default is true); this code always runs it.
  void require_on(const char* key) const {
    if (!has(key)) return;
    if (!root_[key].is_boolean()) refuse(key, "must be true or false");
    if (!root_[key].get<bool>()) refuse(key, "is not supported: vlmtrain always runs this step");
  }

  static bool positive_size(const json& value) {
    return value.is_number_integer() && value.get<int64_t>() > 0 &&
           value.get<int64_t>() <= (int64_t{1} << 16);
  }

  int size(const char* key, const json& value) const {
    if (!positive_size(value)) refuse(key, "must be a whole number of pixels in 1..65536");
    return static_cast<int>(value.get<int64_t>());
  }

  // Three numbers (R, G, B), each accepted by `ok`, which `requirement` describes.
  template <typename Accept>
  std::array<double, 3> channels(const char* key, Accept ok, const char* requirement) const {
    if (!has(key)) refuse(key, "is required");
    const json& value = root_[key];
    std::array<double, 3> out{};
    const bool three = value.is_array() && value.size() == 3;
    for (size_t c = 0; three && c < 3; ++c) {
      if (!value[c].is_number() || !ok(value[c].get<double>())) refuse(key, requirement);
      out[c] = value[c].get<double>();
    }
    if (!three) refuse(key, requirement);
    return out;
  }

  const json& operator[](const char* key) const { return root_[key]; }

 private:
  const json& root_;
  std::string source_;
};

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                             static_cast<size_t>(size));
}

}  // namespace

ImageProcessorConfig clip_image_processor(int size) {
  VLM_CHECK(size > 0, InternalError, "clip_image_processor: size ", size);
  ImageProcessorConfig config;
  config.shortest_edge = config.crop_width = config.crop_height = size;
  return config;
}

ImageProcessorConfig read_image_processor(const std::string& path) {
  const std::string file =
      std::filesystem::is_directory(path) ? files::join(path, "preprocessor_config.json") : path;
  const json root = parse_bounded_json<json>(files::read_all(file), file);
  VLM_CHECK(root.is_object(), ConfigError, file, ": not a JSON object");
  const ConfigFields fields(root, file);
  // CLIPImageProcessor is the class of both model folders we read (CLIPFeatureExtractor is its
  // older name): another class runs other steps.
  for (const char* key : {"image_processor_type", "feature_extractor_type"}) {
    if (!fields.has(key)) continue;
    const json& type = fields[key];
    if (!type.is_string() || (type != "CLIPImageProcessor" && type != "CLIPFeatureExtractor")) {
      fields.refuse(key, "is not supported (CLIPImageProcessor or CLIPFeatureExtractor)");
    }
  }
  for (const char* key :
       {"do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb"}) {
    fields.require_on(key);
  }
  // PIL's resample codes: 3 is BICUBIC, CLIPImageProcessor's default.
  if (fields.has("resample") && fields["resample"] != 3) {
    fields.refuse("resample", "is not supported: only 3 (PIL BICUBIC) is implemented");
  }
  ImageProcessorConfig config;
  if (!fields.has("size")) fields.refuse("size", "is required");
  const json& size = fields["size"];
  if (size.is_object()) {
    // {"height", "width"} resizes to exactly that, squashing the image: not what CLIP does.
    if (!size.contains("shortest_edge") || size.size() != 1) {
      fields.refuse("size", "is not supported: only {\"shortest_edge\": N} or N");
    }
    config.shortest_edge = fields.size("size", size["shortest_edge"]);
  } else {
    config.shortest_edge = fields.size("size", size);  // the legacy int: the shortest edge
  }
  if (!fields.has("crop_size")) fields.refuse("crop_size", "is required");
  const json& crop = fields["crop_size"];
  if (crop.is_object()) {
    if (!crop.contains("height") || !crop.contains("width") || crop.size() != 2) {
      fields.refuse("crop_size", "must be N or {\"height\": H, \"width\": W}");
    }
    config.crop_height = fields.size("crop_size", crop["height"]);
    config.crop_width = fields.size("crop_size", crop["width"]);
  } else {
    config.crop_height = config.crop_width = fields.size("crop_size", crop);
  }
  // HF pads a crop larger than the image with zeros; after the resize the short side is
  // shortest_edge, so a larger crop would pad every image.
  if (std::max(config.crop_height, config.crop_width) > config.shortest_edge) {
    fields.refuse("crop_size", "is larger than size (" + std::to_string(config.shortest_edge) +
                                   "): the crop would pad, which vlmtrain does not reproduce");
  }
  if (fields.has("rescale_factor")) {
    const json& factor = fields["rescale_factor"];
    if (!factor.is_number() || !(factor.get<double>() > 0.0) || factor.get<double>() > 1.0) {
      fields.refuse("rescale_factor", "must be a number in (0, 1]");
    }
    config.rescale_factor = factor.get<double>();
  }
  // Means of pixels scaled to 0..1 lie in [0, 1]; expand2square turns them into a colour.
  config.image_mean = fields.channels(
      "image_mean", [](double v) { return v >= 0.0 && v <= 1.0; },
      "must be three numbers (R, G, B) in [0, 1]");
  config.image_std = fields.channels(
      "image_std", [](double v) { return v > 0.0 && std::isfinite(v); },
      "must be three numbers (R, G, B) > 0");
  return config;
}

ImageProcessorConfig model_image_processor(const std::string& model_folder, int64_t image_size) {
  VLM_CHECK(image_size > 0 && image_size <= (int64_t{1} << 16), ConfigError,
            "model.vision.image_size must be in 1..65536, got ", image_size);
  if (model_folder.empty()) return clip_image_processor(static_cast<int>(image_size));
  const std::string file = files::join(model_folder, "preprocessor_config.json");
  VLM_CHECK(files::exists(file), ConfigError, "model.vision.hf_path ", model_folder,
            " has no preprocessor_config.json: its image processor (size, crop, mean, std) is "
            "read from there, as LLaVA's CLIPImageProcessor.from_pretrained does");
  ImageProcessorConfig config = read_image_processor(file);
  VLM_CHECK(config.crop_width == image_size && config.crop_height == image_size, ConfigError, file,
            ": 'crop_size' ", config.crop_width, "x", config.crop_height,
            " is not the vision tower's input, model.vision.image_size ", image_size);
  return config;
}

std::array<uint8_t, 3> pad_colour(recipes::PadColour colour,
                                  const ImageProcessorConfig& processor) {
  std::array<uint8_t, 3> out{};
  if (colour == recipes::PadColour::kImageMean) {
    for (size_t c = 0; c < 3; ++c) {
      // The mean is in [0, 1] (read_image_processor): the product is in 0..255.
      out[c] = static_cast<uint8_t>(processor.image_mean[c] * 255);
    }
  }
  return out;
}

ImagePreprocessing image_preprocessing(const recipes::DataSection& data,
                                       const ImageProcessorConfig& processor) {
  ImagePreprocessing out;
  out.aspect = data.image_aspect;
  out.pad_colour = pad_colour(data.pad_colour, processor);
  out.processor = processor;
  return out;
}

ImagePreprocessing image_preprocessing(const recipes::DataSection& data,
                                       const std::string& vision_folder, int64_t image_size) {
  return image_preprocessing(data, model_image_processor(vision_folder, image_size));
}

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

RgbImage pad_to_square(const RgbImage& image, const std::array<uint8_t, 3>& colour) {
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  const int left = (side - image.width) / 2;
  const int top = (side - image.height) / 2;
  RgbImage square;
  square.width = square.height = side;
  square.pixels.resize(static_cast<size_t>(side) * side * 3);
  for (size_t i = 0; i < square.pixels.size(); i += 3) {
    std::copy(colour.begin(), colour.end(), square.pixels.begin() + i);
  }
  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  for (int y = 0; y < image.height; ++y) {
    std::copy_n(image.pixels.begin() + y * row_bytes, row_bytes,
                square.pixels.begin() + ((static_cast<size_t>(top) + y) * side + left) * 3);
  }
  return square;
}

RgbImage resize_bicubic(const RgbImage& image, int width, int height) {
  VLM_CHECK(width > 0 && height > 0 && image.width > 0 && image.height > 0 &&
                image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
            InternalError, "resize_bicubic: ", image.width, "x", image.height, " to ", width, "x",
            height);
  // Pillow skips a pass whose size does not change (its taps there are the identity anyway).
  RgbImage out = image;
  if (width != image.width) {
    out = resample_pass(out, bicubic_taps(image.width, width), width, /*horizontal=*/true);
  }
  if (height != image.height) {
    out = resample_pass(out, bicubic_taps(image.height, height), height, /*horizontal=*/false);
  }
  return out;
}

Size shortest_edge_size(int width, int height, int shortest_edge) {
  VLM_CHECK(width > 0 && height > 0 && shortest_edge > 0, InternalError,
            "shortest_edge_size: ", width, "x", height, " to ", shortest_edge);
  const int short_side = std::min(width, height);
  const int long_side = std::max(width, height);
  // Python's int(S * long / short): an exact integer product, one correctly rounded division,
  // truncation.
  const int long_out = static_cast<int>(
      static_cast<double>(static_cast<int64_t>(shortest_edge) * long_side) / short_side);
  return width <= height ? Size{shortest_edge, long_out} : Size{long_out, shortest_edge};
}

RgbImage center_crop(const RgbImage& image, int width, int height) {
  VLM_CHECK(width > 0 && height > 0 && width <= image.width && height <= image.height,
            InternalError, "center_crop: ", width, "x", height, " out of ", image.width, "x",
            image.height);
  const int top = (image.height - height) / 2;
  const int left = (image.width - width) / 2;
  if (width == image.width && height == image.height) return image;
  RgbImage out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(width) * height * 3);
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  for (int y = 0; y < height; ++y) {
    std::copy_n(image.pixels.begin() + ((static_cast<size_t>(top) + y) * image.width + left) * 3,
                row_bytes, out.pixels.begin() + y * row_bytes);
  }
  return out;
}

RgbImage process_to_crop(const RgbImage& image, const ImagePreprocessing& preprocessing) {
  const ImageProcessorConfig& processor = preprocessing.processor;
  VLM_CHECK(processor.shortest_edge > 0 && processor.crop_width > 0 && processor.crop_height > 0 &&
                image.width > 0 && image.height > 0,
            InternalError, "process_to_crop: empty image or processor");
  const bool pad = preprocessing.aspect == recipes::ImageAspect::kPad;
  const RgbImage source = pad ? pad_to_square(image, preprocessing.pad_colour) : image;
  const Size size = shortest_edge_size(source.width, source.height, processor.shortest_edge);
  return center_crop(resize_bicubic(source, size.width, size.height), processor.crop_width,
                     processor.crop_height);
}

void preprocess(const RgbImage& image, const ImagePreprocessing& preprocessing,
                std::vector<float>& out) {
  const ImageProcessorConfig& processor = preprocessing.processor;
  const RgbImage crop = process_to_crop(image, preprocessing);
  const size_t plane = static_cast<size_t>(crop.width) * crop.height;
  out.reserve(out.size() + 3 * plane);
  for (size_t c = 0; c < 3; ++c) {
    // numpy's arithmetic: rescale in double, cast to float32; mean and std cast to float32;
    // (x - mean) / std in float32.
    const auto mean = static_cast<float>(processor.image_mean[c]);
    const auto stddev = static_cast<float>(processor.image_std[c]);
    for (size_t i = 0; i < plane; ++i) {
      const auto x = static_cast<float>(static_cast<double>(crop.pixels[i * 3 + c]) *
                                        processor.rescale_factor);
      out.push_back((x - mean) / stddev);
    }
  }
}

}  // namespace vlm::data
