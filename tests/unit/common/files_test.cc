#include "common/files.h"

#include <gtest/gtest.h>

#include <string>

namespace vlm::files {
namespace {

// Names from index files and manifests are joined to their folder: only a name that stays in it.
TEST(Files, PlainFileNamesStayInTheirFolder) {
  for (const char* name : {"rank-00001.h5", "shard-000000.h5", "model-00001-of-00004.safetensors",
                           "..x", "a..b", ".hidden"}) {
    EXPECT_TRUE(is_plain_file_name(name)) << name;
  }
  using namespace std::string_literals;
  for (const std::string& name :
       {""s, "."s, ".."s, "../x.h5"s, "/etc/passwd"s, "a/b"s, "dir/"s, "a\0b"s}) {
    EXPECT_FALSE(is_plain_file_name(name)) << name;
  }
}

}  // namespace
}  // namespace vlm::files
