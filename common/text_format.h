// Text for people reading a terminal or a Slurm log: durations and aligned tables.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vlm {

// "42s", "4m05s", "2h07m", "3d04h"; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

// Rows of cells as lines with aligned columns (each as wide as its widest cell), two spaces
// apart; the first row is the header, underlined with dashes.
std::vector<std::string> format_table(const std::vector<std::vector<std::string>>& rows);

// Untrusted text for an error message: in single quotes, bytes outside printable ASCII (and
// quotes and backslashes) escaped as \xNN, cut after max_bytes of input with the full length
// said, so neither a huge nor a binary value can flood a log or break a JSON line.
std::string quoted_excerpt(std::string_view text, size_t max_bytes = 200);

}  // namespace vlm
