// Heartbeats over real UDP on loopback: what a sender sends reaches the monitor with its step, a
// goodbye stops the watch, a silent rank is reported once with its host. And what an outsider
// who can reach the port (and has seen datagrams) can do: nothing. Datagrams with a wrong MAC,
// replays, reordered ones and a forged goodbye are dropped and counted, and the monitor listens
// on the address it is given, not on every interface.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "monitor/heartbeat.h"

namespace vlm::monitor {
namespace {

using namespace std::chrono_literals;

HeartbeatKey key_of(uint8_t fill) {
  HeartbeatKey key;
  key.fill(fill);
  return key;
}

TEST(HeartbeatKeys, RankKeysDifferAndTheJobKeyRoundTripsAsHex) {
  const HeartbeatKey job = random_heartbeat_key();
  EXPECT_NE(job, random_heartbeat_key());
  EXPECT_NE(rank_heartbeat_key(job, 0), rank_heartbeat_key(job, 1));
  EXPECT_NE(rank_heartbeat_key(job, 0), job);
  const HeartbeatKeys keys(job, 3);
  EXPECT_EQ(keys.world_size(), 3);
  EXPECT_EQ(keys.of(2), rank_heartbeat_key(job, 2));
  EXPECT_EQ(parse_heartbeat_key_hex(heartbeat_key_hex(job)), job);
  EXPECT_FALSE(parse_heartbeat_key_hex("abc"));
  EXPECT_FALSE(parse_heartbeat_key_hex(std::string(64, 'g')));
  EXPECT_FALSE(parse_heartbeat_key_hex(std::string(64, 'A')));  // lowercase only, as written
}

TEST(HeartbeatCodec, RoundTripsAndRejectsAnythingElse) {
  const HeartbeatKey job = key_of(7);
  const HeartbeatKeys keys(job, 4);
  const Heartbeat beat{3, 99, -42, true, "node-7"};
  const std::string datagram = encode_heartbeat(beat, keys.of(3));
  const auto back = decode_heartbeat(datagram, keys);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->sequence, 99u);
  EXPECT_EQ(back->step, -42);
  EXPECT_TRUE(back->goodbye);
  EXPECT_EQ(back->host, "node-7");

  HeartbeatRejection why{};
  for (const std::string junk : {"", "hello", "vlm-heartbeat/1 0123456789abcdef 3 42 alive h"}) {
    EXPECT_FALSE(decode_heartbeat(junk, keys, &why)) << junk;
    EXPECT_EQ(why, HeartbeatRejection::kMalformed);
  }
  // Every truncation, every extension and every flipped byte is refused.
  for (size_t n = 0; n < datagram.size(); ++n) {
    EXPECT_FALSE(decode_heartbeat(datagram.substr(0, n), keys)) << n;
  }
  EXPECT_FALSE(decode_heartbeat(datagram + "x", keys));
  for (size_t i = 0; i < datagram.size(); ++i) {
    std::string flipped = datagram;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(decode_heartbeat(flipped, keys)) << "byte " << i;
  }
  // Well formed but signed with another rank's key, or another job's.
  EXPECT_FALSE(decode_heartbeat(encode_heartbeat(beat, keys.of(0)), keys, &why));
  EXPECT_EQ(why, HeartbeatRejection::kBadMac);
  EXPECT_FALSE(
      decode_heartbeat(encode_heartbeat(beat, rank_heartbeat_key(key_of(8), 3)), keys, &why));
  EXPECT_EQ(why, HeartbeatRejection::kBadMac);
  // A rank outside the job.
  EXPECT_FALSE(decode_heartbeat(encode_heartbeat({4, 1, 0, false, "h"}, rank_heartbeat_key(job, 4)),
                                keys, &why));
  EXPECT_EQ(why, HeartbeatRejection::kUnknownRank);
  // A host longer than the format holds is cut, and unprintable bytes are replaced.
  const auto cut =
      decode_heartbeat(encode_heartbeat({1, 1, 0, false, std::string(400, 'h')}, keys.of(1)), keys);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->host, std::string(kMaxHeartbeatHostBytes, 'h'));
  const auto odd = decode_heartbeat(encode_heartbeat({1, 1, 0, false, "a b\nc"}, keys.of(1)), keys);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->host, "a?b?c");
}

// Waits until pred() holds, for at most `limit`.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// One datagram to 127.0.0.1:port, as anyone on the machine could send it.
void send_datagram(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// The reports of silent ranks, as the monitor's thread delivers them.
struct SilenceLog {
  std::mutex mutex;
  std::vector<RankHeartbeat> reported;

  HeartbeatMonitor::SilenceHandler handler() {
    return [this](const RankHeartbeat& r) {
      std::lock_guard<std::mutex> lock(mutex);
      reported.push_back(r);
    };
  }
  std::vector<RankHeartbeat> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return reported;
  }
};

TEST(HeartbeatMonitor, TracksSendersAndReportsTheSilentRankOnce) {
  const HeartbeatKey job = random_heartbeat_key();
  SilenceLog silence;
  HeartbeatMonitor monitor("127.0.0.1", {"host-0", "host-1", "host-2"}, job, /*timeout_s=*/1.0,
                           silence.handler());
  ASSERT_GT(monitor.port(), 0);
  HeartbeatSender rank0("127.0.0.1", monitor.port(), rank_heartbeat_key(job, 0),
                        {0, 0, 0, false, "host-0"}, 0.05);
  auto rank1 =
      std::make_unique<HeartbeatSender>("127.0.0.1", monitor.port(), rank_heartbeat_key(job, 1),
                                        Heartbeat{1, 0, 0, false, "host-1"}, 0.05);
  // A stranger with another job's key claims to be rank 2: it must not count.
  HeartbeatSender stranger("127.0.0.1", monitor.port(), rank_heartbeat_key(key_of(1), 2),
                           {2, 0, 0, false, "evil"}, 0.05);
  rank0.set_step(5);
  ASSERT_TRUE(eventually(
      [&] {
        const auto ranks = monitor.ranks();
        return ranks[0].seen && ranks[0].step == 5 && ranks[1].seen;
      },
      2000ms));
  EXPECT_LT(monitor.ranks()[0].age_s, 0.9);
  rank1.reset();  // says goodbye: finished, never silent
  ASSERT_TRUE(eventually([&] { return monitor.ranks()[1].finished; }, 2000ms));
  // Rank 2 never sends (only the stranger does): reported after ~1 s, with its host.
  ASSERT_TRUE(eventually([&] { return !silence.get().empty(); }, 5000ms));
  std::this_thread::sleep_for(1500ms);  // long past rank 1's last heartbeat, too
  const auto reported = silence.get();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].rank, 2);
  EXPECT_EQ(reported[0].host, "host-2");
  EXPECT_FALSE(reported[0].seen);
  EXPECT_GT(reported[0].age_s, 1.0);
  const auto ranks = monitor.ranks();
  EXPECT_TRUE(ranks[2].silent);
  EXPECT_FALSE(ranks[0].silent);
  EXPECT_FALSE(ranks[1].silent);
  EXPECT_GT(monitor.rejected(HeartbeatRejection::kBadMac), 0u);
}

TEST(HeartbeatMonitor, ListensOnTheAddressItIsGivenOnly) {
  HeartbeatMonitor monitor("127.0.0.1", {"h0"}, key_of(1), 10.0, [](const RankHeartbeat&) {});
  EXPECT_EQ(monitor.address(), "127.0.0.1");
  EXPECT_THROW(HeartbeatMonitor("node-a", {"h0"}, key_of(1), 10.0, [](const RankHeartbeat&) {}),
               IoError);
  EXPECT_THROW(HeartbeatMonitor("192.0.2.1", {"h0"}, key_of(1), 10.0, [](const RankHeartbeat&) {}),
               IoError);  // TEST-NET-1: not this machine's
}

TEST(HeartbeatMonitor, DropsAndCountsWrongMacsReplaysAndReorderedDatagrams) {
  const HeartbeatKey job = random_heartbeat_key();
  const HeartbeatKey rank1 = rank_heartbeat_key(job, 1);
  HeartbeatMonitor monitor("127.0.0.1", {"h0", "h1"}, job, 10.0, [](const RankHeartbeat&) {});
  const auto step_of_rank1 = [&] { return monitor.ranks()[1].step; };

  send_datagram(monitor.port(), encode_heartbeat({1, 10, 100, false, "h1"}, rank1));
  ASSERT_TRUE(eventually([&] { return step_of_rank1() == 100; }, 2000ms));
  EXPECT_EQ(monitor.rejected(), 0u);

  send_datagram(monitor.port(), encode_heartbeat({1, 11, 111, false, "h1"}, key_of(9)));
  send_datagram(monitor.port(), encode_heartbeat({1, 10, 100, false, "h1"}, rank1));  // replay
  send_datagram(monitor.port(), encode_heartbeat({1, 9, 99, false, "h1"}, rank1));    // older
  send_datagram(monitor.port(), "garbage");
  ASSERT_TRUE(eventually([&] { return monitor.rejected() == 4; }, 2000ms));
  EXPECT_EQ(monitor.rejected(HeartbeatRejection::kBadMac), 1u);
  EXPECT_EQ(monitor.rejected(HeartbeatRejection::kStale), 2u);
  EXPECT_EQ(monitor.rejected(HeartbeatRejection::kMalformed), 1u);
  EXPECT_EQ(step_of_rank1(), 100);

  send_datagram(monitor.port(), encode_heartbeat({1, 12, 120, false, "h1"}, rank1));
  EXPECT_TRUE(eventually([&] { return step_of_rank1() == 120; }, 2000ms));
  EXPECT_EQ(monitor.rejected(), 4u);
}

// Rank 1 beats a few times and then stops (as a SIGSTOPped process would), while an outsider sends
// goodbyes for it: signed with rank 0's key, with another job's key, and a replay of one of rank
// 1's own alive datagrams. None ends the watch: rank 1's silence is reported.
TEST(HeartbeatMonitor, AForgedGoodbyeDoesNotHideAStoppedRank) {
  const HeartbeatKey job = random_heartbeat_key();
  SilenceLog silence;
  HeartbeatMonitor monitor("127.0.0.1", {"h0", "h1"}, job, /*timeout_s=*/1.0, silence.handler());
  HeartbeatSender rank0("127.0.0.1", monitor.port(), rank_heartbeat_key(job, 0),
                        {0, 0, 0, false, "h0"}, 0.05);
  std::string last_alive;
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    last_alive = encode_heartbeat({1, sequence, 7, false, "h1"}, rank_heartbeat_key(job, 1));
    send_datagram(monitor.port(), last_alive);
  }
  ASSERT_TRUE(eventually([&] { return monitor.ranks()[1].seen; }, 2000ms));

  const Heartbeat goodbye{1, 1000, 7, true, "h1"};
  send_datagram(monitor.port(), encode_heartbeat(goodbye, rank_heartbeat_key(job, 0)));
  send_datagram(monitor.port(), encode_heartbeat(goodbye, rank_heartbeat_key(key_of(3), 1)));
  send_datagram(monitor.port(), encode_heartbeat(goodbye, job));
  ASSERT_TRUE(eventually([&] { return monitor.rejected() == 3; }, 2000ms));
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 2000ms) {
    send_datagram(monitor.port(), last_alive);  // replays cannot keep it alive either
    std::this_thread::sleep_for(100ms);
  }

  const auto reported = silence.get();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].rank, 1);
  EXPECT_FALSE(monitor.ranks()[1].finished);
  EXPECT_TRUE(monitor.ranks()[1].silent);
  EXPECT_FALSE(monitor.ranks()[0].silent);
  EXPECT_EQ(monitor.rejected(HeartbeatRejection::kBadMac), 3u);
  EXPECT_GE(monitor.rejected(HeartbeatRejection::kStale), 15u);
}

// This machine's first IPv4 address other than loopback; empty when it has none.
std::string non_loopback_ipv4() {
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return "";
  std::string found;
  for (const ifaddrs* i = all; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    const auto* address = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &address->sin_addr, text, sizeof text)) found = text;
  }
  freeifaddrs(all);
  return found;
}

// One datagram from and to `address` (a local one).
void send_datagram_on(const std::string& address, int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, address.c_str(), &local.sin_addr), 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  sockaddr_in to = local;
  to.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// A rank whose host is an IP literal must send from there: its key alone is not enough.
TEST(HeartbeatMonitor, ChecksTheSourceOfARankNamedByAddress) {
  const std::string here = non_loopback_ipv4();
  if (here.empty()) GTEST_SKIP() << "no IPv4 address besides loopback";
  const HeartbeatKey job = key_of(5);
  HeartbeatMonitor monitor(here, {"h0", "192.0.2.7", here}, job, 10.0, [](const RankHeartbeat&) {});
  send_datagram_on(here, monitor.port(),
                   encode_heartbeat({1, 1, 1, false, "x"}, rank_heartbeat_key(job, 1)));
  send_datagram_on(here, monitor.port(),
                   encode_heartbeat({2, 1, 2, false, "x"}, rank_heartbeat_key(job, 2)));
  ASSERT_TRUE(eventually([&] { return monitor.ranks()[2].step == 2; }, 2000ms));
  ASSERT_TRUE(eventually([&] { return monitor.rejected() == 1; }, 2000ms));
  EXPECT_EQ(monitor.rejected(HeartbeatRejection::kWrongSource), 1u);
  EXPECT_FALSE(monitor.ranks()[1].seen);
}

TEST(HeartbeatListenAddress, LoopbackForOneHostElseAnAddressOthersReach) {
  EXPECT_EQ(heartbeat_listen_address({"node-a", "node-a"}, "0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(heartbeat_listen_address({"node-a"}, "10.1.2.3"), "127.0.0.1");
  EXPECT_EQ(heartbeat_listen_address({"10.9.9.9", "node-b"}, "10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(heartbeat_listen_address({"10.9.9.9", "node-b"}, "127.0.0.1"), "10.9.9.9");
  EXPECT_EQ(heartbeat_listen_address({"10.9.9.9", "node-b"}, "0.0.0.0"), "10.9.9.9");
  EXPECT_EQ(heartbeat_listen_address({"localhost", "node-b"}, "127.0.0.1"), std::nullopt);
}

}  // namespace
}  // namespace vlm::monitor
