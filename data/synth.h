// The synthetic shapes corpus (RECIPES.md, "Tiny presets"): small images of one coloured shape on
// a dark noisy background, written in the real corpora's formats and folder layouts, so every
// recipe can run end to end on this machine and its answers can be checked.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "data/image.h"

namespace vlm::data::synth {

struct Options {
  std::string out_dir;
  uint64_t seed = 1;
  int64_t captions = 20000;      // blip_laion_cc_sbu_558k.json records, one image each
  int64_t instructions = 20000;  // llava_v1_5_mix665k.json records
  int64_t vora = 10000;          // vora_30m.jsonl lines
  int64_t eval_images = 600;     // held-out images, each asked three questions
  double text_only_ratio = 0.1;  // share of text-only records in the 665K and VoRA files
  int image_size = 32;
  // Upper bound (training stops when no merges are left). 320 makes every word of the corpus a
  // single piece; at 256 the system prompts take the merges first and "red", "green", "yellow",
  // "orange" stay split.
  int vocab_size = 320;
  int threads = 0;  // image writers; 0: one per core (the output never depends on it)
};

struct Counts {
  int64_t images = 0;  // image files written, eval included
  int64_t captions = 0;
  int64_t instructions = 0;
  int64_t instructions_text_only = 0;
  int64_t vora = 0;
  int64_t vora_text_only = 0;
  int64_t eval_questions = 0;
  int64_t vocab_size = 0;  // the tokenizer's (tokenizer.model's pieces; nothing added)
};

// Writes, under options.out_dir:
//   blip_laion_cc_sbu_558k.json  captions; images under images/<5 digits>/<9 digits>.jpg, paths in
//                                the file relative to images/ (LLaVA-Pretrain's layout)
//   llava_v1_5_mix665k.json      1-3 questions (colour, shape, position) per image, text-only Q/A;
//                                images under coco/, gqa/, ocr_vqa/, textvqa/, vg/ (paths relative
//                                to out_dir)
//   vora_30m.jsonl               captions with frames/<id>.jpg, text-only lines, system turns
//   eval/questions.json          held-out images under eval/images/ (paths relative to out_dir),
//                                one question per record with its "category" and expected answer
//   tokenizer.model              SentencePiece trained on the rendered corpus text
//   synth.json                   the settings, counts and vocabulary
// Everything is a pure function of the options (the same seed gives byte-identical files).
// Throws ConfigError for bad options and IoError when a file cannot be written.
Counts generate(const Options& options);

// The scene vocabulary.
constexpr int kNumColours = 8;
constexpr int kNumShapes = 5;
constexpr int kNumPositions = 4;
const char* colour_name(int colour);  // red, green, blue, yellow, purple, orange, white, cyan
std::array<uint8_t, 3> colour_rgb(int colour);
const char* shape_name(int shape);        // circle, square, triangle, cross, star
const char* position_name(int position);  // top left, top right, bottom left, bottom right

// One image: a shape of one colour centred in one quadrant, moved by a small jitter.
struct Scene {
  int colour = 0;
  int shape = 0;
  int position = 0;  // quadrant, in position_name's order
  int dx = 0;        // centre jitter in pixels at 32 px (scaled with the size), -1..1
  int dy = 0;
  uint64_t noise_seed = 0;  // the background noise
};

// A scene drawn from a seed (a pure function of it).
Scene random_scene(uint64_t seed);
// The image of a scene: dark noise (channel values below ~50), then the shape, anti-aliased,
// 6/32 of the size in radius, so it stays inside its quadrant.
RgbImage draw(const Scene& scene, int size);

}  // namespace vlm::data::synth
