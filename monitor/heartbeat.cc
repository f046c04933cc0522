#include "monitor/heartbeat.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "monitor/io_thread.h"

namespace vlm::monitor {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kMagic = "VLHB";
constexpr uint8_t kVersion = 2;
constexpr uint8_t kGoodbyeFlag = 1;
// magic, version, flags, rank (4), sequence (8), step (8), host length (1)
constexpr size_t kFixedBytes = 4 + 1 + 1 + 4 + 8 + 8 + 1;
constexpr size_t kMacBytes = 32;
static_assert(kFixedBytes + kMaxHeartbeatHostBytes + kMacBytes <= kMaxHeartbeatBytes);

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

HeartbeatKey hmac_sha256(const HeartbeatKey& key, std::string_view bytes) {
  HeartbeatKey mac{};
  unsigned int length = 0;
  const unsigned char* done =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), mac.data(), &length);
  VLM_CHECK(done != nullptr && length == mac.size(), InternalError,
            "heartbeats: HMAC-SHA256 failed");
  return mac;
}

void put_big_endian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// The caller has checked that `bytes` bytes are there.
uint64_t get_big_endian(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[offset + i]);
  return value;
}

bool printable(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

HeartbeatKey random_heartbeat_key() {
  HeartbeatKey key{};
  VLM_CHECK(RAND_bytes(key.data(), static_cast<int>(key.size())) == 1, IoError,
            "heartbeats: no random bytes for the job key from the operating system");
  return key;
}

HeartbeatKey rank_heartbeat_key(const HeartbeatKey& job_key, int rank) {
  std::string label = "rank";
  put_big_endian(label, static_cast<uint32_t>(rank), 4);
  return hmac_sha256(job_key, label);
}

std::string heartbeat_key_hex(const HeartbeatKey& key) {
  std::string hex;
  for (const uint8_t byte : key) hex += fmt::format("{:02x}", byte);
  return hex;
}

std::optional<HeartbeatKey> parse_heartbeat_key_hex(std::string_view hex) {
  HeartbeatKey key{};
  if (hex.size() != 2 * key.size()) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < key.size(); ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    key[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return key;
}

HeartbeatKeys::HeartbeatKeys(const HeartbeatKey& job_key, int world_size) {
  for (int r = 0; r < world_size; ++r) by_rank_.push_back(rank_heartbeat_key(job_key, r));
}

const char* describe(HeartbeatRejection why) {
  switch (why) {
    case HeartbeatRejection::kMalformed:
      return "not a heartbeat datagram";
    case HeartbeatRejection::kUnknownRank:
      return "its rank is outside the job";
    case HeartbeatRejection::kBadMac:
      return "its MAC does not verify with the key of the rank it names";
    case HeartbeatRejection::kStale:
      return "its sequence number is not above the rank's last (a replay or reordered)";
    case HeartbeatRejection::kWrongSource:
      return "it comes from an address other than the rank's host";
  }
  return "unknown";
}

std::string encode_heartbeat(const Heartbeat& beat, const HeartbeatKey& rank_key) {
  std::string host = beat.host.substr(0, kMaxHeartbeatHostBytes);
  for (char& c : host) {
    if (!printable(c)) c = '?';
  }
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(beat.goodbye ? kGoodbyeFlag : 0));
  put_big_endian(out, static_cast<uint32_t>(beat.rank), 4);
  put_big_endian(out, beat.sequence, 8);
  put_big_endian(out, static_cast<uint64_t>(beat.step), 8);
  out.push_back(static_cast<char>(host.size()));
  out += host;
  const HeartbeatKey mac = hmac_sha256(rank_key, out);
  out.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return out;
}

std::optional<Heartbeat> decode_heartbeat(std::string_view datagram, const HeartbeatKeys& keys,
                                          HeartbeatRejection* why) {
  const auto reject = [why](HeartbeatRejection reason) -> std::optional<Heartbeat> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (datagram.size() < kFixedBytes + kMacBytes || datagram.size() > kMaxHeartbeatBytes ||
      datagram.substr(0, kMagic.size()) != kMagic ||
      static_cast<uint8_t>(datagram[4]) != kVersion ||
      (static_cast<uint8_t>(datagram[5]) & ~kGoodbyeFlag) != 0) {
    return reject(HeartbeatRejection::kMalformed);
  }
  const size_t host_bytes = static_cast<uint8_t>(datagram[kFixedBytes - 1]);
  if (datagram.size() != kFixedBytes + host_bytes + kMacBytes) {
    return reject(HeartbeatRejection::kMalformed);
  }
  const std::string_view host = datagram.substr(kFixedBytes, host_bytes);
  if (host.empty() || !std::all_of(host.begin(), host.end(), printable)) {
    return reject(HeartbeatRejection::kMalformed);
  }
  const uint64_t rank = get_big_endian(datagram, 6, 4);
  if (rank >= static_cast<uint64_t>(keys.world_size())) {
    return reject(HeartbeatRejection::kUnknownRank);
  }
  const std::string_view signed_part = datagram.substr(0, kFixedBytes + host_bytes);
  const HeartbeatKey expected = hmac_sha256(keys.of(static_cast<int>(rank)), signed_part);
  if (CRYPTO_memcmp(expected.data(), datagram.data() + signed_part.size(), kMacBytes) != 0) {
    return reject(HeartbeatRejection::kBadMac);
  }
  Heartbeat beat;
  beat.rank = static_cast<int>(rank);
  beat.sequence = get_big_endian(datagram, 10, 8);
  beat.step = static_cast<int64_t>(get_big_endian(datagram, 18, 8));
  beat.goodbye = (static_cast<uint8_t>(datagram[5]) & kGoodbyeFlag) != 0;
  beat.host = std::string(host);
  return beat;
}

std::optional<std::string> heartbeat_listen_address(const std::vector<std::string>& hosts,
                                                    const std::string& preferred) {
  if (hosts.empty() || std::all_of(hosts.begin(), hosts.end(),
                                   [&](const std::string& h) { return h == hosts[0]; })) {
    return "127.0.0.1";
  }
  const auto reachable = [](const asio::ip::address_v4& a) {
    return !a.is_unspecified() && !a.is_loopback() && !a.is_multicast();
  };
  boost::system::error_code ec;
  const auto given = asio::ip::make_address_v4(preferred, ec);
  if (!ec && reachable(given)) return given.to_string();
  asio::io_context io;
  udp::resolver resolver(io);
  for (const auto& entry : resolver.resolve(udp::v4(), hosts[0], "0", ec)) {
    const auto address = entry.endpoint().address().to_v4();
    if (reachable(address)) return address.to_string();
  }
  return std::nullopt;
}

// ---- monitor

struct HeartbeatMonitor::Impl {
  struct Entry {
    RankHeartbeat shown;
    Clock::time_point last;
    uint64_t last_sequence = 0;               // senders start at 1
    std::optional<asio::ip::address> source;  // the host when it is an IP literal
  };

  std::optional<HeartbeatKeys> keys;
  double timeout_s = 0.0;
  SilenceHandler on_silence;
  mutable std::mutex mutex;
  std::vector<Entry> entries;  // by rank, under mutex
  std::array<std::atomic<uint64_t>, kHeartbeatRejectionKinds> rejected{};
  std::array<bool, kHeartbeatRejectionKinds> warned{};  // monitor thread only
  asio::io_context io;
  udp::socket socket{io};
  udp::endpoint from;
  // One byte over the largest datagram taken, so that a longer one shows as too long.
  std::array<char, kMaxHeartbeatBytes + 1> datagram{};
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

  // Counted per datagram, logged once per reason: a flood must not flood the log too.
  void reject(HeartbeatRejection why) {
    const auto kind = static_cast<size_t>(why);
    ++rejected[kind];
    if (warned[kind]) return;
    warned[kind] = true;
    log::warn(
        "heartbeat monitor: ignored a datagram from {}: {} (further ones are counted, "
        "not logged)",
        from.address().to_string(), describe(why));
  }

  void record(std::string_view bytes) {
    HeartbeatRejection why = HeartbeatRejection::kMalformed;
    const std::optional<Heartbeat> beat = decode_heartbeat(bytes, *keys, &why);
    if (!beat) return reject(why);
    std::lock_guard<std::mutex> lock(mutex);
    Entry& e = entries[static_cast<size_t>(beat->rank)];
    // A rank beside rank 0 sends from loopback.
    if (e.source && from.address() != *e.source && !from.address().is_loopback()) {
      return reject(HeartbeatRejection::kWrongSource);
    }
    if (beat->sequence <= e.last_sequence) return reject(HeartbeatRejection::kStale);
    e.last_sequence = beat->sequence;
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

HeartbeatMonitor::HeartbeatMonitor(const std::string& bind_address, std::vector<std::string> hosts,
                                   const HeartbeatKey& job_key, double timeout_s,
                                   SilenceHandler on_silence)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.keys.emplace(job_key, static_cast<int>(hosts.size()));
  m.timeout_s = timeout_s;
  m.on_silence = std::move(on_silence);
  const auto now = Clock::now();
  for (size_t r = 0; r < hosts.size(); ++r) {
    Impl::Entry entry;
    entry.shown.rank = static_cast<int>(r);
    entry.shown.host = hosts[r];
    entry.last = now;
    // The monitor's socket is IPv4: only an IPv4 literal can be compared with a source.
    boost::system::error_code not_literal;
    const auto literal = asio::ip::make_address_v4(hosts[r], not_literal);
    if (!not_literal) entry.source = asio::ip::address(literal);
    m.entries.push_back(std::move(entry));
  }
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address_v4(bind_address, ec);
  VLM_CHECK(!ec, IoError, "heartbeat monitor: '", bind_address, "' is not an IPv4 address");
  m.socket.open(udp::v4(), ec);
  if (!ec) m.socket.bind(udp::endpoint(address, 0), ec);
  VLM_CHECK(!ec, IoError, "heartbeat monitor: cannot open a UDP port on ", bind_address, ": ",
            ec.message());
  m.receive();
  m.schedule_check();
  m.thread = run_io_thread(m.io, "heartbeat monitor");
}

HeartbeatMonitor::~HeartbeatMonitor() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string HeartbeatMonitor::address() const {
  boost::system::error_code ec;
  return impl_->socket.local_endpoint(ec).address().to_string();
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

uint64_t HeartbeatMonitor::rejected() const {
  uint64_t total = 0;
  for (const auto& count : impl_->rejected) total += count;
  return total;
}

uint64_t HeartbeatMonitor::rejected(HeartbeatRejection why) const {
  return impl_->rejected[static_cast<size_t>(why)];
}

// ---- sender

struct HeartbeatSender::Impl {
  HeartbeatKey rank_key{};
  Heartbeat identity;
  double interval_s = 0.0;
  std::atomic<int64_t> step{0};
  uint64_t sequence = 0;  // the io thread's, then the destructor's once it has joined
  asio::io_context io;
  udp::socket socket{io};
  udp::endpoint target;
  asio::steady_timer timer{io};
  std::thread thread;

  void send(bool goodbye) {
    Heartbeat beat = identity;
    beat.sequence = ++sequence;
    beat.step = step.load();
    beat.goodbye = goodbye;
    boost::system::error_code ignored;  // the next one may get through; silence is the signal
    socket.send_to(asio::buffer(encode_heartbeat(beat, rank_key)), target, 0, ignored);
  }

  void tick() {
    send(/*goodbye=*/false);
    timer.expires_after(seconds(interval_s));
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }
};

HeartbeatSender::HeartbeatSender(const std::string& host, int port, const HeartbeatKey& rank_key,
                                 Heartbeat identity, double interval_s)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.rank_key = rank_key;
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

}  // namespace vlm::monitor
