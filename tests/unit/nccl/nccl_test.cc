// The NCCL backend on a machine without a GPU: this proves it compiled and linked against the
// real CUDA runtime and NCCL, and that asking for it fails with a message a user can act on.
// Its collectives need a GPU and are not exercised here.
#include "cluster/nccl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "common/error.h"

namespace vlm::cluster {
namespace {

TEST(Nccl, LinksNcclTwo) {
  const std::string version = nccl_version();
  std::smatch parts;
  ASSERT_TRUE(std::regex_match(version, parts, std::regex(R"((\d+)\.(\d+)\.(\d+))"))) << version;
  EXPECT_EQ(parts[1], "2") << version;
  // ncclBfloat16 and ncclCommGetAsyncError, which the backend relies on, came in 2.10 and 2.4.
  EXPECT_GE(std::stoi(parts[2]), 10) << version;
}

TEST(Nccl, WithoutADeviceTheBackendSaysSo) {
  try {
    auto communicator = make_nccl_communicator(make_local_communicator(), 0);
    GTEST_SKIP() << "a CUDA device is visible; this test is for machines without one";
  } catch (const CommError& error) {
    EXPECT_THAT(error.what(),
                ::testing::HasSubstr("cluster.backend is nccl but no CUDA device is visible: "));
  }
}

}  // namespace
}  // namespace vlm::cluster
