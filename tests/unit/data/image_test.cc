#include <stb/stb_image_write.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "common/error.h"
#include "data/image.h"

namespace vlm::data {
namespace {

RgbImage gradient(int width, int height) {
  RgbImage image;
  image.width = width;
  image.height = height;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.pixels.push_back(static_cast<uint8_t>(x * 255 / (width - 1)));
      image.pixels.push_back(static_cast<uint8_t>(y * 255 / (height - 1)));
      image.pixels.push_back(static_cast<uint8_t>(128));
    }
  }
  return image;
}

RgbImage uniform(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height; ++i) image.pixels.insert(image.pixels.end(), {r, g, b});
  return image;
}

float normalized(uint8_t value, int channel) {
  return (value / 255.0f - kClipMean[channel]) / kClipStd[channel];
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

TEST(Image, NormalizesWithTheClipMeanAndStd) {
  std::vector<float> out;
  preprocess(uniform(8, 8, 255, 0, 128), 8, "square", out);
  ASSERT_EQ(out.size(), 3u * 8 * 8);
  for (int i = 0; i < 64; ++i) {
    EXPECT_NEAR(out[i], (1.0f - 0.48145466f) / 0.26862954f, 1e-5);
    EXPECT_NEAR(out[64 + i], (0.0f - 0.4578275f) / 0.26130258f, 1e-5);
    EXPECT_NEAR(out[128 + i], (128 / 255.0f - 0.40821073f) / 0.27577711f, 1e-5);
  }
}

TEST(Image, SameSizeResizeIsIdentityInChwOrder) {
  const RgbImage image = gradient(5, 5);
  std::vector<float> out;
  preprocess(image, 5, "square", out);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 25; ++i) {
      EXPECT_NEAR(out[c * 25 + i], normalized(image.pixels[i * 3 + c], c), 1e-5);
    }
  }
}

TEST(Image, ShrinkingAveragesAreas) {
  // 4x2 -> 2x2 "square": each output pixel averages two input pixels of its row.
  RgbImage image = uniform(4, 2, 0, 0, 0);
  for (int i = 0; i < 8; ++i) image.pixels[i * 3] = static_cast<uint8_t>(i % 2 ? 200 : 100);
  std::vector<float> out;
  preprocess(image, 2, "square", out);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(out[i], (150 / 255.0f - kClipMean[0]) / kClipStd[0], 1e-4);
  }
}

TEST(Image, PadToSquareFillsWithTheClipMeanColour) {
  const RgbImage wide = uniform(4, 2, 255, 0, 0);
  const RgbImage square = pad_to_square(wide);
  ASSERT_EQ(square.width, 4);
  ASSERT_EQ(square.height, 4);
  // Rows 0 and 3 are padding, rows 1 and 2 the image (centred).
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t* pixel = &square.pixels[(y * 4 + x) * 3];
      if (y == 0 || y == 3) {
        for (int c = 0; c < 3; ++c) {
          EXPECT_NEAR(pixel[c], 255 * kClipMean[c], 1.0) << "padding at " << x << "," << y;
        }
      } else {
        EXPECT_EQ(pixel[0], 255);
        EXPECT_EQ(pixel[1], 0);
      }
    }
  }
  // Through preprocess, the padding normalizes to (almost) zero.
  std::vector<float> out;
  preprocess(wide, 4, "pad", out);
  for (int c = 0; c < 3; ++c) {
    for (const int i : {0, 1, 2, 3, 12, 13, 14, 15}) EXPECT_NEAR(out[c * 16 + i], 0.0f, 0.02f);
    EXPECT_GT(out[0 * 16 + 5], 1.5f);  // red inside
  }
}

TEST(Image, SquareStretchesWhatPadKeeps) {
  const RgbImage tall = uniform(2, 6, 0, 255, 0);
  std::vector<float> squared, padded;
  preprocess(tall, 6, "square", squared);
  preprocess(tall, 6, "pad", padded);
  EXPECT_NEAR(squared[36 + 0], normalized(255, 1), 1e-4);  // green reaches the left edge
  EXPECT_NEAR(padded[36 + 0], 0.0f, 0.02f);                // padding there
}

TEST(Image, EnlargingInterpolates) {
  RgbImage image = uniform(2, 1, 0, 0, 0);
  image.pixels[3] = 255;
  const RgbImage two_rows = [&] {
    RgbImage out = image;
    out.height = 2;
    out.pixels.insert(out.pixels.end(), image.pixels.begin(), image.pixels.end());
    return out;
  }();
  std::vector<float> out;
  preprocess(two_rows, 4, "square", out);
  // Red along a row of 4: 0, 64, 191, 255 (pixel centres at 0.25 and 0.75 of the two inputs).
  const float expected[] = {0, 63.75f, 191.25f, 255};
  for (int x = 0; x < 4; ++x) {
    EXPECT_NEAR(out[x], (expected[x] / 255.0f - kClipMean[0]) / kClipStd[0], 1e-4) << x;
  }
}

TEST(Image, UnknownAspectIsAConfigError) {
  std::vector<float> out;
  EXPECT_THROW(preprocess(gradient(4, 4), 4, "crop", out), ConfigError);
}

}  // namespace
}  // namespace vlm::data
