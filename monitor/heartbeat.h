// Heartbeats: every rank sends rank 0 a UDP datagram (rank, sequence, step, host) at an interval
// from a thread of its own; rank 0's monitor tracks when each rank was last heard from and calls
// a handler once for each rank silent past the timeout. A rank whose process ends normally says
// goodbye first, so a rank that finishes before rank 0 (which still writes the final model) is
// not taken for a hung one.
//
// Anyone who can reach the port can send datagrams, so each one is authenticated: rank 0 draws a
// random job key and shares it through the communicator (never on the wire); rank r MACs its
// datagrams (HMAC-SHA256) with a key derived from the job key and r, over every field. The monitor
// takes a datagram only if it decodes, its MAC verifies with the key of the rank it names, and
// its sequence number is above the last one taken from that rank (a replay or a reordered
// datagram is dropped). So a goodbye, which ends the watch over a rank for good, counts only from
// the rank itself, and a captured datagram cannot be played back to keep a stopped rank alive.
// This header holds no Boost: the wire functions are pure, for tests and fuzzers.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/run_status.h"

namespace vlm::monitor {

using HeartbeatKey = std::array<uint8_t, 32>;

// 32 bytes from the operating system's random source. Throws IoError when it has none.
HeartbeatKey random_heartbeat_key();
// Rank r's key, HMAC-SHA256(job_key, "rank" || r as 4 bytes big-endian): one rank's key does not
// give another's.
HeartbeatKey rank_heartbeat_key(const HeartbeatKey& job_key, int rank);
// The job key as 64 lowercase hex digits and back (how rank 0 shares it); nullopt for anything
// else.
std::string heartbeat_key_hex(const HeartbeatKey& key);
std::optional<HeartbeatKey> parse_heartbeat_key_hex(std::string_view hex);

// Every rank's key, derived once from the job key (the monitor's side).
class HeartbeatKeys {
 public:
  HeartbeatKeys(const HeartbeatKey& job_key, int world_size);
  int world_size() const { return static_cast<int>(by_rank_.size()); }
  const HeartbeatKey& of(int rank) const { return by_rank_.at(static_cast<size_t>(rank)); }

 private:
  std::vector<HeartbeatKey> by_rank_;
};

struct Heartbeat {
  int rank = 0;
  uint64_t sequence = 0;  // strictly increasing per sender
  int64_t step = 0;
  bool goodbye = false;  // the rank's process is ending normally: stop watching it
  std::string host;
};

// Bounds of the wire format: a longer host is cut on encoding, a longer datagram is refused.
constexpr size_t kMaxHeartbeatHostBytes = 255;
constexpr size_t kMaxHeartbeatBytes = 512;

// The datagram: magic, version, flags, rank, sequence, step, host (length-prefixed), then the
// HMAC-SHA256 of all of that under rank_key (rank_heartbeat_key of beat.rank). Bytes of the host
// outside printable ASCII are sent as '?'.
std::string encode_heartbeat(const Heartbeat& beat, const HeartbeatKey& rank_key);

// Why a datagram was not taken (decode_heartbeat's and the monitor's reasons).
enum class HeartbeatRejection {
  kMalformed,    // not this format, a bad length or field
  kUnknownRank,  // well formed, but the rank is not in the job
  kBadMac,       // not MACed with the key of the rank it names
  kStale,        // sequence not above the last one taken from that rank: a replay or reordering
  kWrongSource,  // from an address other than the rank's (checked when its host is an IP literal)
};
constexpr int kHeartbeatRejectionKinds = 5;
const char* describe(HeartbeatRejection why);

// The heartbeat in `datagram` when it is well formed, names a rank of `keys` and carries that
// rank's MAC (compared in constant time); otherwise nullopt, with the reason in *why when given.
// Any bytes are safe to pass: every length is checked before it is used.
std::optional<Heartbeat> decode_heartbeat(std::string_view datagram, const HeartbeatKeys& keys,
                                          HeartbeatRejection* why = nullptr);

// The IPv4 address rank 0's monitor should listen on, which every rank then sends to: 127.0.0.1
// when every rank runs on rank 0's host (hosts[0]); else `preferred` when it names one interface
// (not a wildcard, not loopback: cluster.status_address, say); else what rank 0's host name
// resolves to here, unless that is loopback. nullopt when none of these reaches rank 0 from
// other hosts.
std::optional<std::string> heartbeat_listen_address(const std::vector<std::string>& hosts,
                                                    const std::string& preferred);

class HeartbeatMonitor {
 public:
  using SilenceHandler = std::function<void(const RankHeartbeat&)>;
  // hosts[r] is rank r's host. Listens on a free UDP port of bind_address (an IPv4 literal: the
  // address the ranks send to); every rank counts as heard from now. on_silence runs on the
  // monitor's thread, once per rank. Throws IoError when the address cannot be bound.
  HeartbeatMonitor(const std::string& bind_address, std::vector<std::string> hosts,
                   const HeartbeatKey& job_key, double timeout_s, SilenceHandler on_silence);
  ~HeartbeatMonitor();
  HeartbeatMonitor(const HeartbeatMonitor&) = delete;
  HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

  std::string address() const;  // the bound address
  int port() const;
  double timeout_s() const;
  std::vector<RankHeartbeat> ranks() const;  // ages as of now
  uint64_t rejected() const;                 // datagrams not taken, for any reason
  uint64_t rejected(HeartbeatRejection why) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class HeartbeatSender {
 public:
  // Sends `identity` (with the latest step and the next sequence number, MACed with rank_key) to
  // host:port every interval_s, the first at once. Throws IoError when host does not resolve.
  HeartbeatSender(const std::string& host, int port, const HeartbeatKey& rank_key,
                  Heartbeat identity, double interval_s);
  ~HeartbeatSender();  // stops, then says goodbye
  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;

  void set_step(int64_t step);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlm::monitor
