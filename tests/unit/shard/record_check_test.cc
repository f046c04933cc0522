#include "data/record_check.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

using testing::TempDir;

std::string turns(const std::string& list, const std::string& extra = "") {
  return R"({"id": "x")" + extra + R"(, "conversations": [)" + list + "]}";
}
const std::string kHuman = R"({"from": "human", "value": "what is it"})";
const std::string kHumanImage = R"({"from": "human", "value": "<image>\nwhat is it"})";
const std::string kGpt = R"({"from": "gpt", "value": "a red  circle"})";
const std::string kSystem = R"({"from": "system", "value": "be brief"})";

std::optional<SkipReason> reason_of(const std::string& json) { return check_record(json).skip; }

TEST(RecordCheck, AcceptsTheCorporaShapes) {
  EXPECT_FALSE(reason_of(turns(kHumanImage + "," + kGpt, R"(, "image": "a.jpg")")));
  EXPECT_FALSE(reason_of(turns(kHuman + "," + kGpt + "," + kHuman + "," + kGpt)));
  EXPECT_FALSE(
      reason_of(turns(kSystem + "," + kHumanImage + "," + kGpt, R"(, "frames": ["f.jpg"])")));
  // LLaVA skips a first turn from gpt.
  EXPECT_FALSE(reason_of(turns(kGpt + "," + kHuman + "," + kGpt)));
  // Empty "frames" is text-only.
  EXPECT_FALSE(reason_of(turns(kHuman + "," + kGpt, R"(, "frames": [])")));
}

TEST(RecordCheck, NamesEachReason) {
  EXPECT_EQ(reason_of("{\"id\": \"x\", "), SkipReason::kMalformedJson);
  EXPECT_EQ(reason_of("[1, 2]"), SkipReason::kMalformedJson);
  EXPECT_EQ(reason_of(R"({"id": "x", "conversations": "hi"})"), SkipReason::kMalformedJson);
  EXPECT_EQ(reason_of(turns(R"({"from": "human"})")), SkipReason::kMalformedJson);
  EXPECT_EQ(reason_of(turns("")), SkipReason::kEmptyConversation);
  EXPECT_EQ(reason_of(turns(kSystem)), SkipReason::kEmptyConversation);
  EXPECT_EQ(reason_of(turns(kHuman + "," + kHuman)), SkipReason::kBadTurnOrder);
  EXPECT_EQ(reason_of(turns(kHuman)), SkipReason::kBadTurnOrder);
  EXPECT_EQ(reason_of(turns(kGpt)), SkipReason::kBadTurnOrder);
  EXPECT_EQ(reason_of(turns(kHuman + "," + kGpt + "," + kSystem + "," + kGpt)),
            SkipReason::kBadTurnOrder);
  EXPECT_EQ(reason_of(turns(kHumanImage + "," + kGpt)), SkipReason::kPlaceholderMismatch);
  EXPECT_EQ(reason_of(turns(kHuman + "," + kGpt, R"(, "frames": ["a.jpg", "b.jpg"])")),
            SkipReason::kPlaceholderMismatch);
  // One image and no placeholder is VoRA's own format (the qwen2 template places the image);
  // vlm-shard keeps it for whichever template trains on it.
  EXPECT_EQ(reason_of(turns(kHuman + "," + kGpt, R"(, "image": "a.jpg")")), std::nullopt);
}

TEST(RecordCheck, TextLengthCountsWordsOfEveryTurnAsPythonSplitDoes) {
  EXPECT_EQ(count_words(""), 0);
  EXPECT_EQ(count_words("  a\tb\n\nc  "), 3);
  const RecordCheck check = check_record(turns(kHumanImage + "," + kGpt, R"(, "image": "a.jpg")"));
  EXPECT_EQ(check.text_length, 4 + 3);  // "<image>" "what" "is" "it" + "a" "red" "circle"
  EXPECT_EQ(check.id, "x");
  EXPECT_EQ(check.image_paths, std::vector<std::string>{"a.jpg"});
}

TEST(ImagePaths, LexicalCheckRefusesEverythingThatCouldLeaveTheRoot) {
  for (const char* path : {"a.jpg", "00453/004539375.jpg", "./a.jpg", "a/./b.jpg", "a..b/c.jpg",
                           "..a/b.jpg", "a/b../c.jpg"}) {
    EXPECT_TRUE(is_path_beneath_root(path)) << path;
  }
  for (const char* path :
       {"", "/etc/passwd", "../a.jpg", "a/../../b.jpg", "a/..", "..", "a/../b.jpg", "//x"}) {
    EXPECT_FALSE(is_path_beneath_root(path)) << path;
  }
  EXPECT_FALSE(is_path_beneath_root(std::string("a\0b", 3)));
}

class ImageRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = dir.file("root");
    std::filesystem::create_directories(root + "/sub");
    testing::write_file(root + "/sub/ok.jpg", testing::small_jpeg(8, 6));
    testing::write_file(root + "/sub/ok.png", testing::small_png(5, 7));
    testing::write_file(root + "/text.jpg", "not an image");
    testing::write_file(root + "/truncated.jpg", testing::small_jpeg(8, 6).substr(0, 4));
    // A valid image outside the root, reachable by "..", an absolute path or a symlink.
    testing::write_file(dir.file("outside.jpg"), testing::small_jpeg(8, 8));
    std::filesystem::create_symlink(dir.file("outside.jpg"), root + "/escape.jpg");
    std::filesystem::create_symlink("../outside.jpg", root + "/escape_relative.jpg");
    std::filesystem::create_symlink("sub/ok.jpg", root + "/inside_link.jpg");
  }
  TempDir dir;
  std::string root;
};

TEST_F(ImageRootTest, ReadsImagesBeneathTheRootAndChecksTheirHeaders) {
  const ImageRoot images(root);
  std::vector<EncodedImage> loaded;
  std::string detail;
  EXPECT_FALSE(load_images(images, {"sub/ok.jpg", "sub/ok.png", "inside_link.jpg"}, loaded, detail))
      << detail;
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0].width, 8);
  EXPECT_EQ(loaded[0].height, 6);
  EXPECT_EQ(loaded[0].bytes, testing::read_file(root + "/sub/ok.jpg"));
  EXPECT_EQ(loaded[1].width, 5);
  EXPECT_EQ(loaded[1].height, 7);
}

TEST_F(ImageRootTest, SkipsEachKindOfBadImage) {
  const ImageRoot images(root);
  std::vector<EncodedImage> loaded;
  std::string detail;
  auto reason = [&](const std::string& path) {
    return load_images(images, {path}, loaded, detail);
  };
  EXPECT_EQ(reason("missing.jpg"), SkipReason::kMissingImage);
  EXPECT_EQ(reason("sub"), SkipReason::kMissingImage);  // a directory
  EXPECT_EQ(reason("text.jpg"), SkipReason::kUndecodableImage);
  EXPECT_EQ(reason("truncated.jpg"), SkipReason::kUndecodableImage);
  EXPECT_EQ(reason("../outside.jpg"), SkipReason::kImageOutsideRoot);
  EXPECT_EQ(reason(dir.file("outside.jpg")), SkipReason::kImageOutsideRoot);
  EXPECT_EQ(reason("sub/../../outside.jpg"), SkipReason::kImageOutsideRoot);
  if (images.kernel_confined()) {
    EXPECT_EQ(reason("escape.jpg"), SkipReason::kImageOutsideRoot);
    EXPECT_EQ(reason("escape_relative.jpg"), SkipReason::kImageOutsideRoot);
  }
  // The first bad image decides, and detail names it.
  EXPECT_EQ(load_images(images, {"sub/ok.jpg", "missing.jpg"}, loaded, detail),
            SkipReason::kMissingImage);
  EXPECT_NE(detail.find("missing.jpg"), std::string::npos);
}

// LLaVA's layout links whole datasets into playground/data (coco -> /datasets/coco): with the
// links trusted they read, and the refusal names the key that trusts them; a record's own path
// stays confined either way.
TEST_F(ImageRootTest, TrustedLinksLeadOutOfTheRootButRecordPathsDoNot) {
  const ImageRoot confined(root);
  std::string bytes, error;
  if (confined.kernel_confined()) {
    EXPECT_EQ(confined.read("escape.jpg", bytes, error), ImageRoot::Status::kOutsideRoot);
    EXPECT_NE(error.find("data.follow_symlinks: true"), std::string::npos) << error;
  }
  const ImageRoot followed(root, ImageLimits{}, ImageLinks::kFollowed);
  EXPECT_FALSE(followed.kernel_confined());
  for (const char* link : {"escape.jpg", "escape_relative.jpg"}) {
    ASSERT_EQ(followed.read(link, bytes, error), ImageRoot::Status::kOk) << link << ": " << error;
    EXPECT_EQ(bytes, testing::read_file(dir.file("outside.jpg")));
  }
  EXPECT_EQ(followed.read("../outside.jpg", bytes, error), ImageRoot::Status::kOutsideRoot);
  EXPECT_EQ(followed.read(dir.file("outside.jpg"), bytes, error), ImageRoot::Status::kOutsideRoot);
}

// The kernel answers EAGAIN when a rename anywhere races a ".." in a confined walk (here the
// symlink's "../../outside.jpg"); an escaping link must still be "outside", never "missing", while
// another thread renames without pause (in CI, other tests' checkpoint commits did).
TEST_F(ImageRootTest, AnEscapingLinkStaysOutsideWhileRenamesRace) {
  const ImageRoot images(root);
  if (!images.kernel_confined()) GTEST_SKIP() << "no openat2 here";
  std::filesystem::create_symlink("../../outside.jpg", root + "/sub/escape_up.jpg");
  std::atomic<bool> stop{false};
  const std::string a = dir.file("rename_a"), b = dir.file("rename_b");
  testing::write_file(a, "x");
  std::thread renamer([&] {
    while (!stop) {
      ::rename(a.c_str(), b.c_str());
      ::rename(b.c_str(), a.c_str());
    }
  });
  std::string bytes, error;
  int outside = 0;
  const int reads = 20000;
  for (int i = 0; i < reads; ++i) {
    outside += images.read("sub/escape_up.jpg", bytes, error) == ImageRoot::Status::kOutsideRoot;
  }
  stop = true;
  renamer.join();
  EXPECT_EQ(outside, reads) << "last error: " << error;
}

}  // namespace
}  // namespace vlm::data

namespace vlm::data {
namespace {

TEST(RecordCheck, MalformedRecordsKeepTheIdTheirTextShows) {
  EXPECT_EQ(check_record(R"({"id": "m1" "conversations": []})").id, "m1");
  EXPECT_EQ(check_record(R"({"id" : 42, "conversations": [})").id, "42");
  EXPECT_EQ(check_record("{broken").id, "");
}

}  // namespace
}  // namespace vlm::data
