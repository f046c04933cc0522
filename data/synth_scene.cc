// Drawing the shapes of the synthetic corpus.
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/rng.h"
#include "data/synth.h"

namespace vlm::data::synth {
namespace {

constexpr const char* kColourNames[kNumColours] = {"red",    "green",  "blue",  "yellow",
                                                   "purple", "orange", "white", "cyan"};
// Saturated and far apart, so JPEG and a small ViT keep them distinct.
constexpr std::array<uint8_t, 3> kColourRgb[kNumColours] = {
    {{230, 30, 30}},  {{30, 200, 40}}, {{40, 70, 240}},   {{240, 230, 30}},
    {{160, 40, 220}}, {{255, 140, 0}}, {{245, 245, 245}}, {{30, 220, 230}}};
constexpr const char* kShapeNames[kNumShapes] = {"circle", "square", "triangle", "cross", "star"};
constexpr const char* kPositionNames[kNumPositions] = {"top left", "top right", "bottom left",
                                                       "bottom right"};

constexpr double kRadius = 6.0 / 32.0;  // of the image size
constexpr int kSubsamples = 4;          // per axis, for anti-aliasing

struct Point {
  double x, y;
};

// Which side of the line a->b the point p lies on.
double side(Point a, Point b, Point p) {
  return (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
}

bool in_triangle(Point p) {
  constexpr Point a{0.0, -0.9}, b{0.95, 0.75}, c{-0.95, 0.75};
  const double s1 = side(a, b, p), s2 = side(b, c, p), s3 = side(c, a, p);
  return (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0);
}

// An edge of the star's outline, ready for the even-odd test: x at height y is x0 + slope * (y -
// y0).
struct Edge {
  double y0, y1, x0, slope;
};

std::array<Edge, 10> star_edges() {
  std::array<Point, 10> outline;
  for (int i = 0; i < 10; ++i) {
    const double radius = i % 2 == 0 ? 1.0 : 0.42;
    const double angle = -M_PI / 2 + i * M_PI / 5;  // first point straight up
    outline[i] = {radius * std::cos(angle), radius * std::sin(angle)};
  }
  std::array<Edge, 10> edges;
  for (size_t i = 0; i < outline.size(); ++i) {
    const Point a = outline[i], b = outline[(i + 1) % outline.size()];
    edges[i] = {a.y, b.y, a.x, (b.x - a.x) / (b.y - a.y)};
  }
  return edges;
}

const std::array<Edge, 10> kStarEdges = star_edges();

// Even-odd rule over the star's outline.
bool in_star(Point p) {
  bool inside = false;
  for (const Edge& edge : kStarEdges) {
    if ((edge.y0 > p.y) != (edge.y1 > p.y) && p.x < edge.x0 + edge.slope * (p.y - edge.y0)) {
      inside = !inside;
    }
  }
  return inside;
}

// p in units of the radius, y pointing down, centred on the shape.
bool in_shape(int shape, Point p) {
  switch (shape) {
    case 0:
      return p.x * p.x + p.y * p.y <= 0.9 * 0.9;
    case 1:
      return std::max(std::abs(p.x), std::abs(p.y)) <= 0.75;
    case 2:
      return in_triangle(p);
    case 3:
      return (std::abs(p.x) <= 0.3 && std::abs(p.y) <= 0.95) ||
             (std::abs(p.y) <= 0.3 && std::abs(p.x) <= 0.95);
    default:
      return in_star(p);
  }
}

// The share of pixel (x, y) inside the shape. Pixels whose corners and centre agree count as
// wholly in or out; the others (the edges) are supersampled.
template <typename Inside>
double coverage(const Inside& inside, int x, int y) {
  const bool centre = inside(x + 0.5, y + 0.5);
  if (inside(x, y) == centre && inside(x + 1, y) == centre && inside(x, y + 1) == centre &&
      inside(x + 1, y + 1) == centre) {
    return centre ? 1.0 : 0.0;
  }
  int covered = 0;
  for (int sy = 0; sy < kSubsamples; ++sy) {
    for (int sx = 0; sx < kSubsamples; ++sx) {
      covered += inside(x + (sx + 0.5) / kSubsamples, y + (sy + 0.5) / kSubsamples);
    }
  }
  return covered / double(kSubsamples * kSubsamples);
}

// Dark noise: a grey level in 8..39 per pixel, each channel moved by -6..6. One draw per pixel.
void paint_noise(RgbImage& image, uint64_t seed) {
  Rng rng(seed);
  for (size_t i = 0; i < image.pixels.size(); i += 3) {
    const uint64_t bits = rng.next();
    const int base = 8 + static_cast<int>(bits & 31);
    for (size_t c = 0; c < 3; ++c) {
      const int jitter = static_cast<int>((bits >> (8 + 8 * c)) & 0xff) % 13 - 6;
      image.pixels[i + c] = static_cast<uint8_t>(base + jitter);
    }
  }
}

}  // namespace

const char* colour_name(int colour) { return kColourNames[colour]; }
std::array<uint8_t, 3> colour_rgb(int colour) { return kColourRgb[colour]; }
const char* shape_name(int shape) { return kShapeNames[shape]; }
const char* position_name(int position) { return kPositionNames[position]; }

Scene random_scene(uint64_t seed) {
  Rng rng(seed);
  Scene scene;
  scene.colour = static_cast<int>(rng.below(kNumColours));
  scene.shape = static_cast<int>(rng.below(kNumShapes));
  scene.position = static_cast<int>(rng.below(kNumPositions));
  // +-1 px: a probe on the frozen random ViT's features separates the shapes 0.99 of the time
  // at +-1 px and 0.84 at +-2 px (MLP probe, 8000 images), which decides whether the tiny run
  // learns shapes within its 10 minutes.
  scene.dx = static_cast<int>(rng.between(-1, 1));
  scene.dy = static_cast<int>(rng.between(-1, 1));
  scene.noise_seed = rng.next();
  return scene;
}

RgbImage draw(const Scene& scene, int size) {
  VLM_CHECK(size >= 8, ConfigError, "image size ", size, " is too small (at least 8)");
  RgbImage image;
  image.width = image.height = size;
  image.pixels.resize(static_cast<size_t>(size) * size * 3);
  paint_noise(image, scene.noise_seed);

  const double scale = size / 32.0;
  const double cx = (scene.position % 2 ? 0.75 : 0.25) * size + scene.dx * scale;
  const double cy = (scene.position / 2 ? 0.75 : 0.25) * size + scene.dy * scale;
  const double radius = kRadius * size;
  const auto colour = colour_rgb(scene.colour);
  const int x0 = std::max(0, static_cast<int>(cx - radius) - 1);
  const int x1 = std::min(size - 1, static_cast<int>(cx + radius) + 1);
  const int y0 = std::max(0, static_cast<int>(cy - radius) - 1);
  const int y1 = std::min(size - 1, static_cast<int>(cy + radius) + 1);
  const auto inside = [&](double x, double y) {
    return in_shape(scene.shape, {(x - cx) / radius, (y - cy) / radius});
  };
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      const double alpha = coverage(inside, x, y);
      if (alpha == 0.0) continue;
      uint8_t* pixel = &image.pixels[(static_cast<size_t>(y) * size + x) * 3];
      for (int c = 0; c < 3; ++c) {
        pixel[c] = static_cast<uint8_t>(std::lround(pixel[c] * (1 - alpha) + colour[c] * alpha));
      }
    }
  }
  return image;
}

}  // namespace vlm::data::synth
