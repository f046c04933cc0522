// Image decoding and preprocessing: JPEG/PNG bytes -> RGB -> (pad to square) -> the vision model's
// image processor -> normalized CHW floats. The processor is HF's CLIPImageProcessor as LLaVA
// (CLIP ViT-L/14-336) and VoRA (the AIMv2 teacher) run it: the shortest edge resized with
// Pillow's BICUBIC filter, a centre crop, x rescale_factor, (x - mean) / std. Each step computes
// what the reference computes, Pillow's fixed-point arithmetic and numpy's float32 included
// (tests/e2e/test_image_reference.sh holds it to Pillow and numpy).
#pragma once

#include "data/image_root.h"
#include "recipes/recipe.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::data {

// CLIP's normalization (OpenAI CLIP, as LLaVA uses it), per RGB channel, as float32: the values
// the reference normalizes with (numpy casts the config's doubles to the image's float32).
constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};
// LLaVA's expand2square colour for CLIP's mean: int(mean * 255) per channel.
constexpr std::array<uint8_t, 3> kClipPadColour = {122, 116, 104};

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3, row-major RGB
};

// The settings of HF's CLIPImageProcessor that this code follows (a model folder's
// preprocessor_config.json). resample is always BICUBIC and every step is on: a file that says
// otherwise is refused by read_image_processor.
struct ImageProcessorConfig {
  int shortest_edge = 0;  // size: the shorter side is resized to this
  int crop_width = 0;     // crop_size
  int crop_height = 0;
  double rescale_factor = 1.0 / 255.0;
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};
};

// OpenAI CLIP's processor at `size` (shortest edge and crop): what a vision tower without a
// model folder (random init, the tiny recipes) gets.
ImageProcessorConfig clip_image_processor(int size);
// Reads a preprocessor_config.json (or the one in a model folder). ConfigError naming the file
// and the key for anything this code would not reproduce (another resample filter, a step turned
// off, size given as height/width, a crop larger than the resized short side, a mean or std that
// is not three numbers, a std not > 0); IoError when it cannot be read.
ImageProcessorConfig read_image_processor(const std::string& path);
// The processor of a run: model folder's preprocessor_config.json when `model_folder` is set (an
// error when it has none: HF's from_pretrained needs it), else CLIP's at image_size. Its crop
// must be image_size x image_size, the vision tower's input (ConfigError naming the file).
ImageProcessorConfig model_image_processor(const std::string& model_folder, int64_t image_size);

// Everything preprocess() does to one image.
struct ImagePreprocessing {
  recipes::ImageAspect aspect = recipes::ImageAspect::kSquare;
  std::array<uint8_t, 3> pad_colour = kClipPadColour;  // used by kPad
  ImageProcessorConfig processor;
};
ImagePreprocessing image_preprocessing(const recipes::DataSection& data,
                                       const ImageProcessorConfig& processor);
// The same with model_image_processor(vision_folder, image_size): what a run's loader uses.
ImagePreprocessing image_preprocessing(const recipes::DataSection& data,
                                       const std::string& vision_folder, int64_t image_size);
// LLaVA passes tuple(int(x * 255) for x in processor.image_mean) to expand2square: truncation.
std::array<uint8_t, 3> pad_colour(recipes::PadColour colour, const ImageProcessorConfig& processor);

// Decodes JPEG or PNG (any channel count, converted to RGB). Throws FormatError naming `what`
// (e.g. the file) when the bytes do not decode, or when the header declares more than
// max_pixels (checked before any pixel memory is allocated). JPEG goes through stb_image, whose
// IDCT and chroma upsampling are not libjpeg's: its pixels may differ from Pillow's by a few
// levels (PNG decodes exactly).
RgbImage decode_image(std::string_view bytes, const std::string& what,
                      int64_t max_pixels = ImageLimits{}.max_pixels);
// Baseline JPEG via stb_image_write. stb subsamples chroma (4:2:0) at quality <= 90 and keeps
// full chroma (4:4:4) above, so use quality > 90 for small images whose colours matter.
std::string encode_jpeg(const RgbImage& image, int quality);

// LLaVA's expand2square: a square image unchanged; else a max(W, H) square of `colour` with the
// image pasted at ((side - W) / 2, (side - H) / 2), floor.
RgbImage pad_to_square(const RgbImage& image, const std::array<uint8_t, 3>& colour);

// Pillow's Image.resize(..., BICUBIC) for RGB: cubic kernel a = -0.5 widened by the scale when
// shrinking (antialiased), weights in 22-bit fixed point, the horizontal pass rounded to uint8
// before the vertical one. The same size returns the image unchanged (as Pillow copies).
RgbImage resize_bicubic(const RgbImage& image, int width, int height);

// HF's get_resize_output_image_size for {"shortest_edge": S}: the short side becomes S, the long
// side int(S * long / short) (Python float division, truncated).
struct Size {
  int width = 0;
  int height = 0;
};
Size shortest_edge_size(int width, int height, int shortest_edge);

// HF's center_crop for a crop no larger than the image: top = (H - h) / 2, left = (W - w) / 2.
RgbImage center_crop(const RgbImage& image, int width, int height);

// The uint8 image the processor normalizes: padded (kPad), resized, cropped.
RgbImage process_to_crop(const RgbImage& image, const ImagePreprocessing& preprocessing);

// Appends 3 * crop_height * crop_width floats (CHW) to out: process_to_crop, then per value
// float32(u8 * rescale_factor) (HF rescales in double, then casts), then (x - float(mean)) /
// float(std) in float32, as numpy does.
void preprocess(const RgbImage& image, const ImagePreprocessing& preprocessing,
                std::vector<float>& out);

}  // namespace vlm::data
