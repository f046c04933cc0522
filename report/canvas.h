// An RGB image to draw charts into: pixels, lines, rectangles and text in a 5x7 bitmap font.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vlm::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }  // rows top down, RGB

  void set(int x, int y, Rgb colour);  // outside the image: ignored
  void fill_rect(int x, int y, int width, int height, Rgb colour);
  // From (x0, y0) to (x1, y1) inclusive; dash > 0 draws dash pixels on, dash off.
  void line(int x0, int y0, int x1, int y1, Rgb colour, int dash = 0);
  // Text with its top-left corner at (x, y); each font pixel a scale x scale square.
  void text(int x, int y, const std::string& text, Rgb colour, int scale = 1);
  static int text_width(const std::string& text, int scale = 1);
  static int text_height(int scale = 1);

  // Writes a PNG; throws IoError when it cannot.
  void write_png(const std::string& path) const;

 private:
  int width_ = 0;
  int height_ = 0;
  std::vector<uint8_t> pixels_;
};

}  // namespace vlm::report
