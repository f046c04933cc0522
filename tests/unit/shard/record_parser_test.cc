// parse_record (SAX), the one record parser, accepts exactly what a document parse of the same
// rules accepts (tests/support/record_reference.h), with the same fields; read_corpus, which uses
// it, reads the synthetic corpora the same way.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/corpus.h"
#include "tests/support/record_reference.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/shard/shard_fixtures.h"

namespace vlm::data {
namespace {

const char* kRecords[] = {
    R"({"id": "a", "image": "x.jpg", "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]})",
    R"({"id": 17, "frames": ["f1.jpg", "f2.jpg"], "image": ["i.jpg"], "conversations": []})",
    R"({"conversations": [{"value": "v", "from": "human", "extra": {"deep": [1, {"x": []}]}}], "category": "shape"})",
    R"({"id": null, "image": null, "frames": [], "category": null, "conversations": [], "meta": [[{}], {"a": [1]}]})",
    R"({"id": "dup", "image": "first.jpg", "image": "second.jpg", "conversations": [{"from": "a", "value": "b"}], "conversations": []})",
    R"({"id": "u", "conversations": [{"from": "human", "value": "caf\u00e9 \"quoted\" \\ slash"}]})",
    R"({"id": "n", "conversations": [], "x": 1.5, "y": true, "z": "s"})",
    // A bad value replaced by a later one under the same key (found by tests/fuzz: the events
    // had refused at the first).
    R"({"id": "r", "conversations": ["a.jpg"], "conversations": [{"from": "gpt", "value": "ok"}]})",
    R"({"id": 1.5, "image": {"x": 1}, "id": "s", "image": "i.jpg", "conversations": []})",
    R"({"id": "t", "conversations": [{"from": 1, "from": "human", "value": {"v": 2}, "value": "q"}]})",
    R"({"id": "c", "category": [], "conversations": 3, "category": "x", "conversations": []})",
    // Rejected ones.
    R"([1, 2])",
    R"("just a string")",
    R"({"id": 1.5, "conversations": []})",
    R"({"id": true, "conversations": []})",
    R"({"id": ["a"], "conversations": []})",
    R"({"id": "x"})",
    R"({"id": "x", "conversations": null})",
    R"({"id": "x", "conversations": {}})",
    R"({"id": "x", "conversations": ["turn"]})",
    R"({"id": "x", "conversations": [[]]})",
    R"({"id": "x", "conversations": [{"from": "human"}]})",
    R"({"id": "x", "conversations": [{"from": "human", "value": 3}]})",
    R"({"id": "x", "conversations": [{"from": {"a": 1}, "value": "v"}]})",
    R"({"id": "x", "conversations": [{"from": "human", "from": 2, "value": "v"}]})",
    R"({"id": "x", "image": "a.jpg", "image": [1], "conversations": []})",
    R"({"id": "x", "image": 5, "conversations": []})",
    R"({"id": "x", "image": {"p": "a"}, "conversations": []})",
    R"({"id": "x", "frames": ["a", null], "conversations": []})",
    R"({"id": "x", "frames": [["a"]], "conversations": []})",
    R"({"id": "x", "category": 3, "conversations": []})",
    R"({"id": "x", "category": [], "conversations": []})",
    R"({"id": "x", "conversations": []} trailing)",
    R"({"id": "x", "conversations": [})",
    R"({"id": "x" "conversations": []})",
};

TEST(RecordParser, AgreesWithTheDocumentParser) {
  for (const char* record : kRecords) {
    bool document_ok = true;
    std::vector<Conversation> by_document;
    try {
      by_document.push_back(testing::reference_record(record));
    } catch (const FormatError&) {
      document_ok = false;
    }
    bool sax_ok = true;
    Conversation by_sax;
    try {
      by_sax = parse_record(record);
    } catch (const FormatError&) {
      sax_ok = false;
    }
    ASSERT_EQ(sax_ok, document_ok) << record;
    if (!sax_ok) continue;
    const Conversation& expected = by_document.at(0);
    EXPECT_EQ(by_sax.id, expected.id) << record;
    EXPECT_EQ(by_sax.images, expected.images) << record;
    EXPECT_EQ(by_sax.category, expected.category) << record;
    ASSERT_EQ(by_sax.turns.size(), expected.turns.size()) << record;
    for (size_t i = 0; i < expected.turns.size(); ++i) {
      EXPECT_EQ(by_sax.turns[i].from, expected.turns[i].from) << record;
      EXPECT_EQ(by_sax.turns[i].value, expected.turns[i].value) << record;
    }
  }
}

// The real generator's records parse the same way too.
TEST(RecordParser, AgreesOnTheSyntheticCorpora) {
  testing::TempDir dir;
  std::vector<std::string> lines;
  for (int i = 0; i < 50; ++i) {
    lines.push_back(testing::caption_record("c" + std::to_string(i), "a/" + std::to_string(i)));
    lines.push_back(testing::text_record("t" + std::to_string(i)));
  }
  testing::write_json_lines(dir.file("c.jsonl"), lines);
  const auto expected = read_corpus(dir.file("c.jsonl"));
  for (size_t i = 0; i < lines.size(); ++i) {
    const Conversation got = parse_record(lines[i]);
    EXPECT_EQ(got.id, expected[i].id);
    EXPECT_EQ(got.turns.size(), expected[i].turns.size());
    EXPECT_EQ(got.turns.back().value, expected[i].turns.back().value);
  }
}

}  // namespace
}  // namespace vlm::data
