#include <stb/stb_image_write.h>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "common/error.h"
#include "data/image.h"
#include "tests/support/temp_dir.h"

namespace vlm::data {
namespace {

// An image whose pixel (x, y) is colour(x, y).
RgbImage image_of(int width, int height,
                  const std::function<std::array<uint8_t, 3>(int, int)>& colour) {
  RgbImage image;
  image.width = width;
  image.height = height;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const auto rgb = colour(x, y);
      image.pixels.insert(image.pixels.end(), rgb.begin(), rgb.end());
    }
  }
  return image;
}

RgbImage gradient(int width, int height) {
  return image_of(width, height, [&](int x, int y) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>(x * 255 / (width - 1)),
                                  static_cast<uint8_t>(y * 255 / (height - 1)), 128};
  });
}

RgbImage uniform(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  return image_of(width, height, [&](int, int) { return std::array<uint8_t, 3>{r, g, b}; });
}

// numpy's arithmetic in HF's processor: float32(u8 * (1/255 in double)), then float32 math.
float normalized(uint8_t value, int channel) {
  const auto x = static_cast<float>(value * (1.0 / 255.0));
  return (x - kClipMean[channel]) / kClipStd[channel];
}

// The test pattern the Pillow goldens below were made from (tests' Python: same formula).
RgbImage pattern(int width, int height) {
  return image_of(width, height, [](int x, int y) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>((x * 37 + y * 11) % 256),
                                  static_cast<uint8_t>((x * 5 + y * 53) % 256),
                                  static_cast<uint8_t>((x * y * 7 + 13) % 256)};
  });
}

ImagePreprocessing clip(int size, recipes::ImageAspect aspect = recipes::ImageAspect::kSquare,
                        recipes::PadColour colour = recipes::PadColour::kImageMean) {
  recipes::DataSection data;
  data.image_aspect = aspect;
  data.pad_colour = colour;
  return image_preprocessing(data, clip_image_processor(size));
}

std::string fixture(const std::string& model) {
  return std::string(VLM_SOURCE_DIR) + "/tests/fixtures/" + model + "/preprocessor_config.json";
}

// A preprocessor_config.json in a fresh folder: the message must name the file and the key.
void expect_refused(const std::string& text, const std::string& key) {
  const vlm::testing::TempDir dir;  // removed at the end of the test
  const std::string& folder = dir.path();
  const std::string file = dir.file("preprocessor_config.json");
  std::ofstream(file) << text;
  try {
    read_image_processor(folder);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find("'" + key + "'"), std::string::npos) << message;
  }
}

// Every key valid: tests change one at a time.
std::string processor_json(const std::string& replace_key = "", const std::string& value = "") {
  std::map<std::string, std::string> keys = {
      {"crop_size", "8"},    {"do_center_crop", "true"},        {"do_normalize", "true"},
      {"do_resize", "true"}, {"image_mean", "[0.5, 0.5, 0.5]"}, {"image_std", "[0.25, 0.25, 0.25]"},
      {"resample", "3"},     {"size", "{\"shortest_edge\": 8}"}};
  if (!replace_key.empty()) keys[replace_key] = value;
  std::string out = "{";
  for (const auto& [key, text] : keys) {
    out += (out.size() > 1 ? ", \"" : "\"") + key + "\": " + text;
  }
  return out + "}";
}

TEST(Image, JpegRoundTripIsClose) {
  const RgbImage original = gradient(40, 24);
  const std::string jpeg = encode_jpeg(original, 95);
  ASSERT_GT(jpeg.size(), 100u);
  EXPECT_EQ(static_cast<uint8_t>(jpeg[0]), 0xFF);  // SOI marker
  EXPECT_EQ(static_cast<uint8_t>(jpeg[1]), 0xD8);
  const RgbImage decoded = decode_image(jpeg, "memory");
  ASSERT_EQ(decoded.width, 40);
  ASSERT_EQ(decoded.height, 24);
  ASSERT_EQ(decoded.pixels.size(), original.pixels.size());
  double total = 0;
  int worst = 0;
  for (size_t i = 0; i < original.pixels.size(); ++i) {
    const int diff = std::abs(int(decoded.pixels[i]) - int(original.pixels[i]));
    total += diff;
    worst = std::max(worst, diff);
  }
  EXPECT_LT(total / original.pixels.size(), 2.0);
  EXPECT_LE(worst, 12);
}

TEST(Image, SaturatedColourSurvivesJpegAtQuality95) {
  // Above quality 90 stb keeps full-resolution chroma: a 2-pixel red line stays red.
  RgbImage image = uniform(16, 16, 20, 20, 20);
  for (int y = 7; y <= 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      uint8_t* pixel = &image.pixels[(y * 16 + x) * 3];
      pixel[0] = 230, pixel[1] = 30, pixel[2] = 30;
    }
  }
  const RgbImage decoded = decode_image(encode_jpeg(image, 95), "memory");
  const uint8_t* pixel = &decoded.pixels[(7 * 16 + 8) * 3];
  EXPECT_GT(pixel[0], 180);
  EXPECT_LT(pixel[1], 80);
  EXPECT_LT(pixel[2], 80);
}

TEST(Image, DecodesPngWithAlphaAsRgb) {
  const std::vector<uint8_t> rgba = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 9, 9, 9, 255};
  std::string png;
  const auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  ASSERT_NE(stbi_write_png_to_func(append, &png, 2, 2, 4, rgba.data(), 8), 0);
  const RgbImage decoded = decode_image(png, "memory.png");
  ASSERT_EQ(decoded.width, 2);
  ASSERT_EQ(decoded.height, 2);
  EXPECT_EQ(decoded.pixels, (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9}));
}

TEST(Image, CorruptJpegThrowsFormatErrorNamingTheFile) {
  std::string jpeg = encode_jpeg(gradient(16, 16), 95);
  jpeg.resize(jpeg.size() / 3);
  jpeg[2] = 0;  // break the first marker too
  try {
    decode_image(jpeg, "coco/train2017/000000000009.jpg");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("coco/train2017/000000000009.jpg"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(decode_image("", "empty.jpg"), FormatError);
}

TEST(Image, NormalizesAsHfsProcessorDoes) {
  std::vector<float> out;
  preprocess(uniform(8, 8, 255, 0, 128), clip(8), out);
  ASSERT_EQ(out.size(), 3u * 8 * 8);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(out[i], normalized(255, 0));
    EXPECT_EQ(out[64 + i], normalized(0, 1));
    EXPECT_EQ(out[128 + i], normalized(128, 2));
  }
  EXPECT_NEAR(out[0], (1.0 - 0.48145466) / 0.26862954, 1e-6);
}

TEST(Image, SameSizeIsIdentityInChwOrder) {
  const RgbImage image = gradient(5, 5);
  EXPECT_EQ(resize_bicubic(image, 5, 5).pixels, image.pixels);
  std::vector<float> out;
  preprocess(image, clip(5), out);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 25; ++i) EXPECT_EQ(out[c * 25 + i], normalized(image.pixels[i * 3 + c], c));
  }
}

// Goldens from Pillow 9.4 (Image.fromarray(pattern).resize((w, h), Image.BICUBIC)): shrinking in
// both directions (7x5 -> 3x4 also enlarges the height), enlarging one axis only, one pass only.
TEST(Image, BicubicResizeIsPillows) {
  struct Case {
    int width, height, out_width, out_height;
    std::vector<uint8_t> expected;
  };
  const std::vector<Case> cases = {
      {7, 5, 3, 4, {29,  11,  14,  113, 22,  16, 197, 33,  18, 42,  76,  20,
                    126, 87,  42,  210, 98,  63, 56,  144, 26, 140, 155, 68,
                    227, 166, 111, 69,  209, 32, 160, 220, 94, 158, 231, 156}},
      {2, 1, 5, 1, {0, 0, 13, 2, 0, 13, 19, 3, 13, 35, 5, 13, 41, 5, 13}},
      {1, 2, 1, 3, {0, 0, 13, 6, 27, 13, 12, 56, 13}},
      {9, 3, 4, 3, {25, 3,   13, 106, 14,  13, 185, 26,  13, 54, 37,  13,
                    36, 56,  18, 117, 67,  33, 196, 79,  49, 65, 90,  64,
                    47, 109, 23, 128, 120, 53, 207, 132, 85, 76, 143, 115}},
  };
  for (const Case& c : cases) {
    const RgbImage out = resize_bicubic(pattern(c.width, c.height), c.out_width, c.out_height);
    EXPECT_EQ(out.width, c.out_width);
    EXPECT_EQ(out.height, c.out_height);
    EXPECT_EQ(out.pixels, c.expected) << c.width << "x" << c.height;
  }
}

TEST(Image, BicubicKeepsAUniformImageAndClipsOvershoot) {
  EXPECT_EQ(resize_bicubic(uniform(13, 7, 200, 3, 77), 5, 11).pixels,
            uniform(5, 11, 200, 3, 77).pixels);
  // A hard edge enlarged: the cubic's negative lobes overshoot; the result saturates at 0..255.
  RgbImage edge = uniform(4, 1, 0, 255, 0);
  for (int x = 2; x < 4; ++x) edge.pixels[x * 3] = 255, edge.pixels[x * 3 + 1] = 0;
  const RgbImage out = resize_bicubic(edge, 16, 1);
  EXPECT_EQ(out.pixels[0], 0);
  EXPECT_EQ(out.pixels[15 * 3], 255);
  EXPECT_EQ(out.pixels[1], 255);
}

TEST(Image, ShortestEdgeSizeTruncatesTheLongSide) {
  const auto size = [](int w, int h, int s) {
    const Size out = shortest_edge_size(w, h, s);
    return std::make_pair(out.width, out.height);
  };
  EXPECT_EQ(size(640, 480, 336), std::make_pair(448, 336));
  EXPECT_EQ(size(480, 640, 336), std::make_pair(336, 448));
  EXPECT_EQ(size(500, 333, 336), std::make_pair(504, 336));  // 504.5045...
  EXPECT_EQ(size(3, 7, 2), std::make_pair(2, 4));            // 4.67: truncated, not rounded
  EXPECT_EQ(size(10, 10, 4), std::make_pair(4, 4));
  EXPECT_EQ(size(1, 300, 448), std::make_pair(448, 134400));
}

TEST(Image, CenterCropFloorsItsOffsets) {
  const RgbImage wide = pattern(7, 4);
  const RgbImage crop = center_crop(wide, 4, 4);  // left = (7 - 4) // 2 = 1
  ASSERT_EQ(crop.width, 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(crop.pixels[(y * 4 + x) * 3 + c], wide.pixels[(y * 7 + x + 1) * 3 + c]);
      }
    }
  }
  const RgbImage tall = pattern(4, 9);
  const RgbImage top_cut = center_crop(tall, 4, 4);  // top = (9 - 4) // 2 = 2
  EXPECT_TRUE(
      std::equal(top_cut.pixels.begin(), top_cut.pixels.end(), tall.pixels.begin() + 2 * 4 * 3));
}

TEST(Image, PadToSquarePastesAtFloorOffsets) {
  const RgbImage wide = uniform(5, 2, 255, 0, 0);
  const RgbImage square = pad_to_square(wide, {1, 2, 3});
  ASSERT_EQ(square.width, 5);
  ASSERT_EQ(square.height, 5);
  // top = (5 - 2) // 2 = 1: rows 1 and 2 are the image.
  for (int y = 0; y < 5; ++y) {
    const uint8_t* pixel = &square.pixels[static_cast<size_t>(y * 5 + 2) * 3];
    const bool image = y == 1 || y == 2;
    EXPECT_EQ(pixel[0], image ? 255 : 1) << y;
    EXPECT_EQ(pixel[2], image ? 0 : 3) << y;
  }
  const RgbImage square_in = gradient(3, 3);
  EXPECT_EQ(pad_to_square(square_in, {0, 0, 0}).pixels, square_in.pixels);
}

TEST(Image, PadColoursAreLlavasAndVoras) {
  const ImageProcessorConfig processor = clip_image_processor(8);
  EXPECT_EQ(pad_colour(recipes::PadColour::kImageMean, processor), kClipPadColour);
  EXPECT_EQ(pad_colour(recipes::PadColour::kBlack, processor), (std::array<uint8_t, 3>{0, 0, 0}));
}

TEST(Image, SquareCropsTheSidesWherePadKeepsThem) {
  // A tall green bar with red ends: square (the processor alone) cuts the ends off, pad keeps
  // them inside a square of padding.
  RgbImage tall = uniform(2, 6, 0, 255, 0);
  for (int x = 0; x < 2; ++x) {
    tall.pixels[x * 3] = 255, tall.pixels[x * 3 + 1] = 0;
    tall.pixels[(5 * 2 + x) * 3] = 255, tall.pixels[(5 * 2 + x) * 3 + 1] = 0;
  }
  const RgbImage squared = process_to_crop(tall, clip(2));
  ASSERT_EQ(squared.width, 2);
  ASSERT_EQ(squared.height, 2);
  for (size_t i = 0; i < squared.pixels.size(); i += 3) EXPECT_LT(squared.pixels[i], 128);
  const RgbImage padded =
      process_to_crop(tall, clip(6, recipes::ImageAspect::kPad, recipes::PadColour::kBlack));
  ASSERT_EQ(padded.width, 6);
  EXPECT_EQ(padded.pixels[0], 0);                  // black padding, top left
  EXPECT_GT(padded.pixels[(0 * 6 + 2) * 3], 200);  // the red end, kept
}

TEST(Image, ReadsTheModelFoldersProcessors) {
  const ImageProcessorConfig clip_336 =
      read_image_processor(fixture("openai/clip-vit-large-patch14-336"));
  EXPECT_EQ(clip_336.shortest_edge, 336);  // the legacy int
  EXPECT_EQ(clip_336.crop_width, 336);
  EXPECT_EQ(clip_336.crop_height, 336);
  EXPECT_EQ(clip_336.rescale_factor, 1.0 / 255.0);  // no key: HF's default
  EXPECT_EQ(clip_336.image_mean[0], 0.48145466);
  EXPECT_EQ(clip_336.image_std[2], 0.27577711);
  const ImageProcessorConfig aimv2 = read_image_processor(
      std::filesystem::path(fixture("apple/aimv2-huge-patch14-448")).parent_path());
  EXPECT_EQ(aimv2.shortest_edge, 448);
  EXPECT_EQ(aimv2.crop_width, 448);
  EXPECT_EQ(aimv2.crop_height, 448);
  EXPECT_EQ(aimv2.rescale_factor, 0.00392156862745098);
  EXPECT_EQ(pad_colour(recipes::PadColour::kImageMean, aimv2), kClipPadColour);
}

TEST(Image, RefusesProcessorsItWouldNotReproduce) {
  expect_refused(processor_json("resample", "2"), "resample");
  expect_refused(processor_json("size", "{\"height\": 8, \"width\": 8}"), "size");
  expect_refused(processor_json("size", "0"), "size");
  expect_refused(processor_json("crop_size", "9"), "crop_size");
  expect_refused(processor_json("crop_size", "{\"height\": 8}"), "crop_size");
  expect_refused(processor_json("image_mean", "[0.5, 0.5]"), "image_mean");
  expect_refused(processor_json("image_mean", "[0.5, 0.5, 2]"), "image_mean");
  expect_refused(processor_json("image_std", "[0.5, 0, 0.5]"), "image_std");
  expect_refused(processor_json("image_std", "\"x\""), "image_std");
  expect_refused(processor_json("do_normalize", "false"), "do_normalize");
  expect_refused(processor_json("do_center_crop", "false"), "do_center_crop");
  expect_refused(processor_json("rescale_factor", "0"), "rescale_factor");
  expect_refused(processor_json("image_processor_type", "\"SiglipImageProcessor\""),
                 "image_processor_type");
}

TEST(Image, ModelProcessorMustFitTheTower) {
  EXPECT_EQ(model_image_processor("", 32).shortest_edge, 32);
  EXPECT_EQ(model_image_processor(
                std::filesystem::path(fixture("apple/aimv2-huge-patch14-448")).parent_path(), 448)
                .crop_width,
            448);
  try {
    model_image_processor(
        std::filesystem::path(fixture("openai/clip-vit-large-patch14-336")).parent_path(), 224);
    FAIL() << "a 336 crop accepted for a 224 tower";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'crop_size' 336x336"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model_image_processor(::testing::TempDir(), 32), ConfigError);  // no such file
}

}  // namespace
}  // namespace vlm::data
