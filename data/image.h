// Image decoding and preprocessing: JPEG/PNG bytes -> RGB -> square (resize, or pad with the CLIP
// mean colour then resize) -> CLIP-normalized CHW floats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::data {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3, row-major RGB
};

// Throws FormatError (naming `what`, e.g. the file) when the bytes do not decode.
RgbImage decode_image(std::string_view bytes, const std::string& what);
std::string encode_jpeg(const RgbImage& image, int quality);

// aspect: "square" resizes; "pad" pads to square with the CLIP mean colour first (LLaVA-1.5).
// Appends 3 * size * size floats, normalized with the CLIP mean and std, to out.
void preprocess(const RgbImage& image, int size, const std::string& aspect, std::vector<float>& out);

}  // namespace vlm::data
