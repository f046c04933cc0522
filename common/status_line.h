// A line kept below the log on a terminal and rewritten in place (rank 0's progress): log lines
// print above it. The caller decides that stdout is a terminal (common/terminal.h). Implemented
// in log.cc, which routes the default logger through it.
#pragma once

#include <string>

namespace vlm::log {

void show_status_line(const std::string& text);
// Leaves the status line's last text on the screen as an ordinary line; the next
// show_status_line starts a new one.
void end_status_line();

}  // namespace vlm::log
