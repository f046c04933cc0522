// The records of the synthetic corpora: conversations with the scenes their images show. Each
// record is a pure function of (seed, stream, index), so they can be made in any order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/conversation.h"
#include "data/synth.h"

namespace vlm::data::synth {

// Independent random streams: the eval stream never produces a training image.
enum Stream : uint64_t {
  kCaptionStream = 1,
  kInstructionStream = 2,
  kVoraStream = 3,
  kEvalStream = 4
};

struct Record {
  Conversation conversation;
  std::vector<Scene> scenes;  // one per conversation.images entry
  bool empty_frames = false;  // a text-only VoRA line written with "frames": [] (not absent)
};

// blip_laion_cc_sbu_558k.json: "<image>" before or after a short prompt, the caption as answer.
Record caption_record(uint64_t seed, int64_t index);
// llava_v1_5_mix665k.json: 1-3 questions about an image, or text-only Q/A.
Record instruction_record(uint64_t seed, int64_t index, double text_only_ratio);
// vora_30m.jsonl: captions with a frame, text-only lines, some with a system turn.
Record vora_record(uint64_t seed, int64_t index, double text_only_ratio);
// eval/questions.json: the three single-question records of one held-out image.
std::vector<Record> eval_records(uint64_t seed, int64_t image_index);

// The caption of a scene in phrasing `variant` (any integer).
std::string caption(const Scene& scene, int variant);

}  // namespace vlm::data::synth
