// A 5x7 bitmap font for chart labels: digits, letters and the punctuation numbers and metric
// names use. Drawn for this project.
#pragma once

namespace vlm::report {

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;
constexpr int kGlyphAdvance = kGlyphWidth + 1;  // one blank column between characters

struct Glyph {
  char character;
  // kGlyphHeight rows of kGlyphWidth cells, top row first: '#' on, '.' off.
  const char* rows;
  bool on(int column, int row) const { return rows[row * kGlyphWidth + column] == '#'; }
};

// The glyph of c; a box for characters the font does not have.
const Glyph& glyph_of(char c);

}  // namespace vlm::report
