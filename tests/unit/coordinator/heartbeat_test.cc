// Heartbeats over real UDP on loopback: what a sender sends reaches the monitor with its step,
// a goodbye stops the watch, a silent rank is reported once with its host, strangers are ignored.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "coordinator/heartbeat.h"

namespace vlm::coordinator {
namespace {

using namespace std::chrono_literals;

TEST(HeartbeatCodec, RoundTripsAndRejectsAnythingElse) {
  const Heartbeat beat{0x0123456789abcdefULL, 3, 42, true, "node-7"};
  const auto back = decode_heartbeat(encode_heartbeat(beat));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->token, beat.token);
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->step, 42);
  EXPECT_TRUE(back->goodbye);
  EXPECT_EQ(back->host, "node-7");
  for (const std::string junk :
       {"", "hello", "vlm-heartbeat/1 0123456789abcdef 3 42 alive",  // no host
        "vlm-heartbeat/2 0123456789abcdef 3 42 alive h", "vlm-heartbeat/1 xyz 3 42 alive h",
        "vlm-heartbeat/1 0123456789abcdeg 3 42 alive h",
        "vlm-heartbeat/1 0123456789abcdef 3 42 maybe h"}) {
    EXPECT_FALSE(decode_heartbeat(junk)) << junk;
  }
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

TEST(HeartbeatMonitor, TracksSendersAndReportsTheSilentRankOnce) {
  constexpr uint64_t kToken = 77;
  std::mutex mutex;
  std::vector<RankHeartbeat> reported;
  HeartbeatMonitor monitor({"host-0", "host-1", "host-2"}, kToken, /*timeout_s=*/1.0,
                           [&](const RankHeartbeat& r) {
                             std::lock_guard<std::mutex> lock(mutex);
                             reported.push_back(r);
                           });
  ASSERT_GT(monitor.port(), 0);
  HeartbeatSender rank0("127.0.0.1", monitor.port(), {kToken, 0, 0, false, "host-0"}, 0.05);
  auto rank1 = std::make_unique<HeartbeatSender>("127.0.0.1", monitor.port(),
                                                 Heartbeat{kToken, 1, 0, false, "host-1"}, 0.05);
  // A stranger with the wrong token claims to be rank 2: it must not count.
  HeartbeatSender stranger("127.0.0.1", monitor.port(), {kToken + 1, 2, 0, false, "evil"}, 0.05);
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
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return !reported.empty();
      },
      5000ms));
  std::this_thread::sleep_for(1500ms);  // long past rank 1's last heartbeat, too
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].rank, 2);
  EXPECT_EQ(reported[0].host, "host-2");
  EXPECT_FALSE(reported[0].seen);
  EXPECT_GT(reported[0].age_s, 1.0);
  const auto ranks = monitor.ranks();
  EXPECT_TRUE(ranks[2].silent);
  EXPECT_FALSE(ranks[0].silent);
  EXPECT_FALSE(ranks[1].silent);
}

}  // namespace
}  // namespace vlm::coordinator
