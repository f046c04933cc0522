#include "coordinator/heartbeat.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "coordinator/io_thread.h"

namespace vlm::coordinator {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kMagic = "vlm-heartbeat/1";

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string encode_heartbeat(const Heartbeat& beat) {
  return fmt::format("{} {:016x} {} {} {} {}", kMagic, beat.token, beat.rank, beat.step,
                     beat.goodbye ? "goodbye" : "alive", beat.host);
}

std::optional<Heartbeat> decode_heartbeat(std::string_view datagram) {
  std::istringstream in{std::string(datagram)};
  std::string magic, token, kind;
  Heartbeat beat;
  if (!(in >> magic >> token >> beat.rank >> beat.step >> kind >> beat.host)) return std::nullopt;
  if (magic != kMagic || token.size() != 16 || (kind != "alive" && kind != "goodbye")) {
    return std::nullopt;
  }
  try {
    size_t used = 0;
    beat.token = std::stoull(token, &used, 16);
    if (used != token.size()) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  beat.goodbye = kind == "goodbye";
  return beat;
}

// ---- monitor

struct HeartbeatMonitor::Impl {
  struct Entry {
    RankHeartbeat shown;
    Clock::time_point last;
  };

  uint64_t token = 0;
  double timeout_s = 0.0;
  SilenceHandler on_silence;
  mutable std::mutex mutex;
  std::vector<Entry> entries;  // by rank, under mutex
  asio::io_context io;
  udp::socket socket{io};
  udp::endpoint from;
  std::array<char, 512> datagram{};
  asio::steady_timer check_timer{io};
  std::thread thread;

  void receive() {
    socket.async_receive_from(asio::buffer(datagram), from,
                              [this](const boost::system::error_code& ec, size_t n) {
                                if (ec == asio::error::operation_aborted) return;
                                if (!ec) record(std::string_view(datagram.data(), n));
                                receive();
                              });
  }

  void record(std::string_view bytes) {
    const std::optional<Heartbeat> beat = decode_heartbeat(bytes);
    if (!beat || beat->token != token || beat->rank < 0 ||
        beat->rank >= static_cast<int>(entries.size())) {
      return;
    }
    std::lock_guard<std::mutex> lock(mutex);
    Entry& e = entries[static_cast<size_t>(beat->rank)];
    e.last = Clock::now();
    e.shown.seen = true;
    e.shown.step = beat->step;
    e.shown.host = beat->host;
    e.shown.finished = e.shown.finished || beat->goodbye;
  }

  // Checks a few times per timeout, so a silence is reported at most ~10% late.
  void schedule_check() {
    check_timer.expires_after(seconds(std::clamp(timeout_s / 10, 0.01, 1.0)));
    check_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      for (const RankHeartbeat& rank : newly_silent()) on_silence(rank);
      schedule_check();
    });
  }

  std::vector<RankHeartbeat> newly_silent() {
    std::vector<RankHeartbeat> silent;
    std::lock_guard<std::mutex> lock(mutex);
    const auto now = Clock::now();
    for (Entry& e : entries) {
      if (e.shown.finished || e.shown.silent || seconds_between(e.last, now) <= timeout_s) continue;
      e.shown.silent = true;
      silent.push_back(e.shown);
      silent.back().age_s = seconds_between(e.last, now);
    }
    return silent;
  }
};

HeartbeatMonitor::HeartbeatMonitor(std::vector<std::string> hosts, uint64_t token, double timeout_s,
                                   SilenceHandler on_silence)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.token = token;
  m.timeout_s = timeout_s;
  m.on_silence = std::move(on_silence);
  const auto now = Clock::now();
  for (size_t r = 0; r < hosts.size(); ++r) {
    RankHeartbeat shown;
    shown.rank = static_cast<int>(r);
    shown.host = hosts[r];
    m.entries.push_back({shown, now});
  }
  boost::system::error_code ec;
  m.socket.open(udp::v4(), ec);
  if (!ec) m.socket.bind(udp::endpoint(udp::v4(), 0), ec);
  VLM_CHECK(!ec, IoError, "heartbeat monitor: cannot open a UDP port: ", ec.message());
  m.receive();
  m.schedule_check();
  m.thread = run_io_thread(m.io, "heartbeat monitor");
}

HeartbeatMonitor::~HeartbeatMonitor() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HeartbeatMonitor::port() const {
  boost::system::error_code ec;
  return impl_->socket.local_endpoint(ec).port();
}

double HeartbeatMonitor::timeout_s() const { return impl_->timeout_s; }

std::vector<RankHeartbeat> HeartbeatMonitor::ranks() const {
  std::vector<RankHeartbeat> out;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const auto now = Clock::now();
  for (const auto& e : impl_->entries) {
    out.push_back(e.shown);
    out.back().age_s = seconds_between(e.last, now);
  }
  return out;
}

// ---- sender

struct HeartbeatSender::Impl {
  Heartbeat identity;
  double interval_s = 0.0;
  std::atomic<int64_t> step{0};
  asio::io_context io;
  udp::socket socket{io};
  udp::endpoint target;
  asio::steady_timer timer{io};
  std::thread thread;

  void send(bool goodbye) {
    Heartbeat beat = identity;
    beat.step = step.load();
    beat.goodbye = goodbye;
    boost::system::error_code ignored;  // the next one may get through; silence is the signal
    socket.send_to(asio::buffer(encode_heartbeat(beat)), target, 0, ignored);
  }

  void tick() {
    send(/*goodbye=*/false);
    timer.expires_after(seconds(interval_s));
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }
};

HeartbeatSender::HeartbeatSender(const std::string& host, int port, Heartbeat identity,
                                 double interval_s)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.identity = std::move(identity);
  s.interval_s = interval_s;
  udp::resolver resolver(s.io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(udp::v4(), host, std::to_string(port), ec);
  VLM_CHECK(!ec && !results.empty(), IoError, "heartbeats: cannot resolve rank 0's host '", host,
            "': ", ec.message());
  s.target = results.begin()->endpoint();
  s.socket.open(udp::v4(), ec);
  VLM_CHECK(!ec, IoError, "heartbeats: cannot open a UDP socket: ", ec.message());
  s.tick();
  s.thread = run_io_thread(s.io, "heartbeat sender");
}

HeartbeatSender::~HeartbeatSender() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->send(/*goodbye=*/true);
}

void HeartbeatSender::set_step(int64_t step) { impl_->step = step; }

}  // namespace vlm::coordinator
