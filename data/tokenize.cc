// Segments -> token ids and aligned labels, with truncation by whole rounds.
#include <algorithm>

#include "common/error.h"
#include "data/conversation.h"

namespace vlm::data {
namespace {

// Tokens of one segment, appended to the sample.
void append_segment(const Segment& segment, const Tokenizer& tokenizer, int64_t image_tokens,
                    TokenizedSample& sample) {
  std::vector<int32_t> ids;
  switch (segment.kind) {
    case Segment::Kind::kBos:
      if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
      break;
    case Segment::Kind::kEos:
      ids.push_back(tokenizer.eos_id());
      break;
    case Segment::Kind::kImage:
      sample.image_starts.push_back(static_cast<int64_t>(sample.input_ids.size()));
      ++sample.num_images;
      ids.assign(static_cast<size_t>(image_tokens), kImageToken);
      break;
    case Segment::Kind::kText:
      ids = tokenizer.encode(segment.text);
      break;
  }
  const bool labelled = segment.trainable && segment.kind != Segment::Kind::kImage;
  sample.input_ids.insert(sample.input_ids.end(), ids.begin(), ids.end());
  for (const int32_t id : ids) sample.labels.push_back(labelled ? id : kIgnoreLabel);
}

// Keeps the first `rounds_end` tokens (whole rounds) and drops the images past them; when even
// that is longer than max_seq_len (the first round alone), cuts at max_seq_len, which must not
// split or drop an image.
void truncate(TokenizedSample& sample, size_t rounds_end, size_t max_seq_len,
              int64_t image_tokens) {
  while (!sample.image_starts.empty() &&
         sample.image_starts.back() >= static_cast<int64_t>(rounds_end)) {
    sample.image_starts.pop_back();
    --sample.num_images;
  }
  const size_t length = std::min(rounds_end, max_seq_len);
  if (!sample.image_starts.empty()) {
    const int64_t image_end = sample.image_starts.back() + image_tokens;
    VLM_CHECK(image_end <= static_cast<int64_t>(length), FormatError, "max_seq_len ", max_seq_len,
              " cuts through an image of the first round (its tokens end at ", image_end,
              "): raise data.max_seq_len");
  }
  sample.input_ids.resize(length);
  sample.labels.resize(length);
}

}  // namespace

TokenizedSample tokenize(const std::vector<Segment>& segments, const Tokenizer& tokenizer,
                         int64_t image_tokens, int64_t max_seq_len) {
  TokenizedSample sample;
  // round_end[k]: token count once round k is complete (rounds are contiguous and in order).
  std::vector<size_t> round_end;
  for (const Segment& segment : segments) {
    VLM_CHECK(segment.round >= static_cast<int>(round_end.size()) - 1, InternalError,
              "segments out of round order");
    append_segment(segment, tokenizer, image_tokens, sample);
    const size_t before = round_end.empty() ? 0 : round_end.back();
    round_end.resize(static_cast<size_t>(segment.round) + 1, before);
    round_end[static_cast<size_t>(segment.round)] = sample.input_ids.size();
  }
  if (max_seq_len <= 0 || sample.input_ids.size() <= static_cast<size_t>(max_seq_len)) {
    return sample;
  }
  size_t keep = round_end.empty() ? 0 : round_end.front();
  for (size_t k = 1; k < round_end.size() && round_end[k] <= static_cast<size_t>(max_seq_len);
       ++k) {
    keep = round_end[k];
  }
  truncate(sample, keep, static_cast<size_t>(max_seq_len), image_tokens);
  return sample;
}

}  // namespace vlm::data
