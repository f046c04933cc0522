// Heartbeat datagrams: mutants of real ones, as they arrive (almost all fail the MAC) and again
// with the MAC made valid for each rank's key, so that the fields behind the MAC are fuzzed as
// well. decode_heartbeat never throws; what it takes names a rank of the job and a bounded host.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

#include "monitor/heartbeat.h"
#include "tests/fuzz/mutator.h"

namespace vlm::fuzz {
namespace {

constexpr int kWorld = 4;
constexpr size_t kMacBytes = 32;

std::string with_mac(const std::string& body, const monitor::HeartbeatKey& key) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &length);
  return body + std::string(reinterpret_cast<const char*>(mac), length);
}

void check(const std::string& datagram, const monitor::HeartbeatKeys& keys) {
  const auto beat = monitor::decode_heartbeat(datagram, keys);
  if (beat && (beat->rank < 0 || beat->rank >= kWorld ||
               beat->host.size() > monitor::kMaxHeartbeatHostBytes)) {
    throw std::logic_error("a heartbeat taken with a rank outside the job or a long host");
  }
}

TEST(HeartbeatFuzz, MutatedDatagramsAreTakenOnlyWellFormed) {
  monitor::HeartbeatKey job_key{};
  for (size_t i = 0; i < job_key.size(); ++i) job_key[i] = static_cast<uint8_t>(7 * i + 1);
  const monitor::HeartbeatKeys keys(job_key, kWorld);
  std::vector<std::string> seeds;
  for (int rank = 0; rank < kWorld; ++rank) {
    monitor::Heartbeat beat;
    beat.rank = rank;
    beat.sequence = 1000 + static_cast<uint64_t>(rank);
    beat.step = 12 * rank;
    beat.goodbye = rank == 3;
    beat.host = rank == 2 ? "10.0.0.2" : "node-" + std::to_string(rank) + ".cluster.local";
    seeds.push_back(monitor::encode_heartbeat(beat, keys.of(rank)));
  }
  int64_t taken = 0;
  const FuzzOutcome outcome =
      run_fuzz("heartbeat", seeds, {std::string(4, '\0'), std::string(8, '\xff'), "\x7f", "\x01"},
               [&](const std::string& datagram) {
                 check(datagram, keys);
                 if (datagram.size() < kMacBytes) return;
                 const std::string body = datagram.substr(0, datagram.size() - kMacBytes);
                 for (int rank = 0; rank < kWorld; ++rank) {
                   const std::string resigned = with_mac(body, keys.of(rank));
                   check(resigned, keys);
                   if (monitor::decode_heartbeat(resigned, keys)) ++taken;
                 }
               });
  EXPECT_EQ(outcome.refused, 0);  // decoding reports, it does not throw
  EXPECT_GT(taken, 0);            // re-signed mutants reach the fields behind the MAC
}

}  // namespace
}  // namespace vlm::fuzz
