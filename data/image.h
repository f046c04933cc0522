// Image decoding and preprocessing: JPEG/PNG bytes -> RGB -> square (resize, or pad with the CLIP
// mean colour then resize) -> CLIP-normalized CHW floats.
#pragma once

#include "data/image_root.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::data {

// CLIP's normalization (OpenAI CLIP, as LLaVA uses it), per RGB channel.
constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};
// The padding colour of "pad": LLaVA's expand2square fills with int(mean * 255) per channel.
constexpr std::array<uint8_t, 3> kClipPadColour = {122, 116, 104};

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3, row-major RGB
};

// Decodes JPEG or PNG (any channel count, converted to RGB). Throws FormatError naming `what`
// (e.g. the file) when the bytes do not decode, or when the header declares more than
// max_pixels (checked before any pixel memory is allocated).
RgbImage decode_image(std::string_view bytes, const std::string& what,
                      int64_t max_pixels = ImageLimits{}.max_pixels);
// Baseline JPEG via stb_image_write. stb subsamples chroma (4:2:0) at quality <= 90 and keeps
// full chroma (4:4:4) above, so use quality > 90 for small images whose colours matter.
std::string encode_jpeg(const RgbImage& image, int quality);

// Pads to a square with kClipPadColour, the image centred (LLaVA's expand2square). A square
// image is returned unchanged.
RgbImage pad_to_square(const RgbImage& image);

// aspect: "square" resizes; "pad" pads to square with the CLIP mean colour first (LLaVA-1.5).
// Appends 3 * size * size floats (CHW), normalized with the CLIP mean and std, to out.
// Resizing is separable: area averaging when shrinking (exact identity at the same size) and
// bilinear interpolation with pixel-centre alignment when enlarging. Throws ConfigError for an
// unknown aspect.
void preprocess(const RgbImage& image, int size, const std::string& aspect,
                std::vector<float>& out);

}  // namespace vlm::data
