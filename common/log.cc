#include "common/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "common/status_line.h"

namespace vlm::log {
namespace {

int g_rank = 0;

// Erases the status line before each log line and draws it again after, so the two never mix.
class StatusLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void show(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = text;
    draw();
  }
  void end() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.empty()) return;
    std::fputs("\n", stdout);
    std::fflush(stdout);
    status_.clear();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!status_.empty()) std::fputs("\r\033[K", stdout);
    inner_->log(msg);
    if (!status_.empty()) draw();
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  void draw() {
    std::fputs(("\r" + status_ + "\033[K").c_str(), stdout);
    std::fflush(stdout);
  }

  std::shared_ptr<spdlog::sinks::sink> inner_ =
      std::make_shared<spdlog::sinks::stdout_color_sink_st>();
  std::string status_;
};

StatusLineSink& status_sink() {
  static const auto sink = [] {
    auto made = std::make_shared<StatusLineSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", made));
    return made;
  }();
  return *sink;
}

}  // namespace

void set_rank(int rank, int world_size) {
  g_rank = rank;
  status_sink();  // the default logger goes through it from the start
  const std::string pattern = world_size > 1
                                  ? "[%H:%M:%S] [rank " + std::to_string(rank) + "] [%l] %v"
                                  : "[%H:%M:%S] [%l] %v";
  spdlog::set_pattern(pattern);
}

int rank() { return g_rank; }

void show_status_line(const std::string& text) { status_sink().show(text); }

void end_status_line() { status_sink().end(); }

}  // namespace vlm::log
