// Test material for the shard tests: small valid JPEG/PNG images and hand-written corpora.
#pragma once

#include <string>
#include <vector>

namespace vlm::testing {

// A valid w x h JPEG (colour picked by seed).
std::string small_jpeg(int width, int height, int seed = 0);
std::string small_png(int width, int height);
// A JPEG whose header declares width x height (up to 65535) over a small image's data: what a
// decompression bomb shows a header check.
std::string jpeg_declaring(int width, int height);
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A 558K-style record with one image: {"id", "image", "conversations": [human <image>, gpt]}.
std::string caption_record(const std::string& id, const std::string& image,
                           const std::string& caption = "a red circle");
// A text-only two-turn record.
std::string text_record(const std::string& id, const std::string& answer = "yes it is");

// Writes records as a JSON array (one element per line, like LLaVA's files) or as JSON Lines.
void write_json_array(const std::string& path, const std::vector<std::string>& records);
void write_json_lines(const std::string& path, const std::vector<std::string>& records);

}  // namespace vlm::testing
