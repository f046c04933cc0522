#include "report/canvas.h"

#include <cstdlib>

#include "report/font.h"

namespace vlm::report {

Canvas::Canvas(int width, int height, Rgb background)
    : width_(width), height_(height), pixels_(static_cast<size_t>(width) * height * 3) {
  fill_rect(0, 0, width, height, background);
}

void Canvas::set(int x, int y, Rgb colour) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const size_t at = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[at] = colour.r;
  pixels_[at + 1] = colour.g;
  pixels_[at + 2] = colour.b;
}

void Canvas::fill_rect(int x, int y, int width, int height, Rgb colour) {
  for (int row = y; row < y + height; ++row) {
    for (int column = x; column < x + width; ++column) set(column, row, colour);
  }
}

// Bresenham's walk: the error term decides, step by step, whether y (or x) advances too.
void Canvas::line(int x0, int y0, int x1, int y1, Rgb colour, int dash) {
  const int dx = std::abs(x1 - x0);
  const int dy = -std::abs(y1 - y0);
  const int step_x = x0 < x1 ? 1 : -1;
  const int step_y = y0 < y1 ? 1 : -1;
  int error = dx + dy;
  for (int drawn = 0;; ++drawn) {
    if (dash <= 0 || (drawn / dash) % 2 == 0) set(x0, y0, colour);
    if (x0 == x1 && y0 == y1) break;
    const int twice = 2 * error;
    if (twice >= dy) {
      error += dy;
      x0 += step_x;
    }
    if (twice <= dx) {
      error += dx;
      y0 += step_y;
    }
  }
}

void Canvas::text(int x, int y, const std::string& text, Rgb colour, int scale) {
  for (const char c : text) {
    const Glyph& glyph = glyph_of(c);
    for (int row = 0; row < kGlyphHeight; ++row) {
      for (int column = 0; column < kGlyphWidth; ++column) {
        if (glyph.on(column, row)) {
          fill_rect(x + column * scale, y + row * scale, scale, scale, colour);
        }
      }
    }
    x += kGlyphAdvance * scale;
  }
}

int Canvas::text_width(const std::string& text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

}  // namespace vlm::report
