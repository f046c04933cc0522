// training.device and cluster.backend resolved on this machine: a CPU-only LibTorch, so auto is
// the CPU with MPI, and asking for a GPU or NCCL is a ConfigError that says what to change.
#include <gtest/gtest.h>

#include "common/error.h"
#include "worker/placement.h"

namespace vlm::worker {
namespace {

recipes::Recipe recipe_with(const std::string& device, cluster::Backend backend) {
  recipes::Recipe recipe;
  recipe.stages.resize(1);
  recipe.stages[0].training.device = device;
  recipe.cluster.backend = backend;
  return recipe;
}

std::string message_of(const std::string& device, cluster::Backend backend) {
  try {
    choose_placement(recipe_with(device, backend), cluster::World{});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Placement, AutoIsTheCpuWithMpiWithoutCuda) {
  ASSERT_FALSE(cuda_usable()) << "this test describes a machine without a GPU";
  for (const char* device : {"auto", "cpu"}) {
    for (const cluster::Backend backend : {cluster::Backend::kAuto, cluster::Backend::kMpi}) {
      const Placement placement = choose_placement(recipe_with(device, backend), {});
      EXPECT_TRUE(placement.device.is_cpu()) << device << " " << name_of(backend);
      EXPECT_EQ(placement.backend, cluster::Backend::kMpi) << device << " " << name_of(backend);
    }
  }
}

TEST(Placement, AGpuOrNcclThatCannotBeHadSaysWhatToChange) {
  for (const std::string device : {"cuda", "cuda:1"}) {
    const std::string message = message_of(device, cluster::Backend::kAuto);
    EXPECT_NE(message.find("training.device is " + device), std::string::npos) << message;
    EXPECT_NE(message.find("-DTorch_DIR"), std::string::npos) << message;
  }
  const std::string nccl = message_of("auto", cluster::Backend::kNccl);
  EXPECT_NE(nccl.find("cluster.backend is nccl"), std::string::npos) << nccl;
  EXPECT_NE(nccl.find("training.device resolves to cpu"), std::string::npos) << nccl;
  EXPECT_NE(message_of("gpu", cluster::Backend::kAuto).find("must be auto, cpu, cuda"),
            std::string::npos);
}

}  // namespace
}  // namespace vlm::worker
