// Corpus records: the one record parser (parse_record, a SAX parser) on mutants of LLaVA- and
// VoRA-style records, held to the schema as a document parse (tests/support/record_reference.h):
// the two must accept the same records.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/corpus.h"
#include "tests/fuzz/mutator.h"
#include "tests/support/record_reference.h"

namespace vlm::fuzz {
namespace {

const std::vector<std::string> kSeeds = {
    R"({"id": "000000033471", "image": "coco/train2017/000000033471.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"}, {"from": "gpt", "value": "The bus in the image is white and red."}, {"from": "human", "value": "What feature can be seen on the back of the bus?"}, {"from": "gpt", "value": "The back of the bus features an advertisement."}]})",
    R"({"id": "GCC_train_002582585", "image": "GCC_train_002582585.jpg", "conversations": [{"from": "human", "value": "Provide a brief description of the given image.\n<image>"}, {"from": "gpt", "value": "olive oil is a healthy ingredient used liberally ."}]})",
    R"({"id": "text-only-7", "conversations": [{"from": "human", "value": "Write a haiku about rain."}, {"from": "gpt", "value": "Soft rain on the roof\n\u00e9t\u00e9 \ud83d\ude00"}], "category": "text"})",
    R"({"id": "vora-1", "frames": ["clip/0001.jpg", "clip/0002.jpg"], "conversations": [{"from": "system", "value": "You are helpful."}, {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "two frames"}]})",
    R"({"id": 17, "image": ["a.jpg", "b.jpg"], "conversations": [{"from": "human", "value": "<image><image> compare"}, {"from": "gpt", "value": "same"}]})",
};

std::vector<std::string> record_dictionary() {
  std::vector<std::string> words = json_dictionary();
  for (const char* key : {"\"id\"", "\"image\"", "\"frames\"", "\"conversations\"", "\"from\"",
                          "\"value\"", "\"human\"", "\"gpt\"", "\"system\"", "\"category\"",
                          "<image>", "\"../../etc/passwd\"", "\"/dev/zero\""}) {
    words.push_back(key);
  }
  return words;
}

bool document_parser_accepts(const std::string& record) {
  try {
    testing::reference_record(record);
    return true;
  } catch (const FormatError&) {
    return false;
  }
}

TEST(CorpusRecordFuzz, MutatedRecordsAreParsedOrRefusedAlikeByBothParsers) {
  int64_t compared = 0;
  const FuzzOutcome outcome =
      run_fuzz("corpus_record", kSeeds, record_dictionary(), [&](const std::string& input) {
        bool streaming_accepts = true;
        try {
          data::parse_record(input);
        } catch (const FormatError&) {
          streaming_accepts = false;
        }
        ++compared;
        const bool document_accepts = document_parser_accepts(input);
        if (streaming_accepts != document_accepts) {
          throw std::logic_error(
              std::string("parse_record ") + (streaming_accepts ? "accepts" : "refuses") +
              " a record the document parse " + (document_accepts ? "accepts" : "refuses"));
        }
        if (!streaming_accepts) data::parse_record(input);  // rethrows as the refusal
      });
  EXPECT_GE(outcome.accepted, static_cast<int64_t>(kSeeds.size()));
  EXPECT_GT(outcome.refused, 0);
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace vlm::fuzz
