// Issue 18, item 8: a config.json value nested a million deep ended the process on a stack
// overflow; it is a FormatError naming the file, as the parser meets the depth.
#include "models/json_file.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace vlm::models {
namespace {

TEST(JsonFile, NestingAMillionDeepIsAFormatErrorNamingTheFile) {
  testing::TempDir dir;
  const std::string path = dir.file("config.json");
  const size_t depth = 1'000'000;
  files::write_atomically(path, R"({"architectures": )" + std::string(depth, '[') + "0" +
                                    std::string(depth, ']') + "}");
  try {
    read_json_file(path);
    ADD_FAILURE() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": JSON nested deeper than 64 levels"),
              std::string::npos)
        << e.what();
  }
  files::write_atomically(path, R"({"a": {"b": [1, 2, {"c": null}]}})");
  EXPECT_EQ(read_json_file(path)["a"]["b"][2].size(), 1u);
}

}  // namespace
}  // namespace vlm::models
