// Text for people reading a terminal or a Slurm log: durations and aligned tables.
#pragma once

#include <string>
#include <vector>

namespace vlm {

// "42s", "4m05s", "2h07m", "3d04h"; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

// Rows of cells as lines with aligned columns (each as wide as its widest cell), two spaces
// apart; the first row is the header, underlined with dashes.
std::vector<std::string> format_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace vlm
