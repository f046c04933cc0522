// Forward + backward time of the tiny preset's shape (d 128, 4 layers, batch 64 x 80 tokens with
// one 32x32 image each), printed for the record. The bound only catches gross regressions.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>

#include "models/attention_mask.h"
#include "models/init.h"
#include "models/model.h"

namespace vlm::models {
namespace {

TEST(Speed, TinyModelForwardBackward) {
  recipes::ModelSection config;  // the defaults are the tiny preset's shapes
  config.vision.position_init = "sincos";
  VisionLanguageModel model(config, 33, 1);
  model.set_trainable({"projector", "llm"});
  const int64_t batch = 64, seq = 80, image_tokens = model.image_tokens_per_image();
  ASSERT_EQ(image_tokens, 16);

  at::Generator gen = init::generator(1, "speed");
  at::Tensor ids = at::randint(1, 33, {batch, seq}, gen, at::kLong);
  ids.narrow(1, 1, image_tokens).fill_(kImageSlot);
  std::vector<int64_t> lengths(batch);
  std::vector<TokenSpan> spans;
  for (int64_t b = 0; b < batch; ++b) {
    lengths[b] = seq - b % 12;
    spans.push_back({b, 1, image_tokens});
  }
  ModelInputs inputs;
  inputs.input_ids = ids;
  inputs.images = at::randn({batch, 3, 32, 32}, gen);
  inputs.attention_mask = build_attention_mask(batch, seq, lengths, spans);
  const at::Tensor labels = at::randint(0, 33, {batch * seq}, gen, at::kLong);

  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto step = [&] {
    const ModelOutputs out = model.forward(inputs);
    at::cross_entropy_loss(out.logits.view({batch * seq, -1}), labels).backward();
  };
  step();  // warm-up
  const int steps = 3;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / steps;
  at::set_num_threads(threads);
  std::printf(
      "[ speed ] tiny model forward+backward, batch %lld x %lld, fp32, 1 torch thread: "
      "%.1f ms\n",
      static_cast<long long>(batch), static_cast<long long>(seq), seconds * 1000);
  EXPECT_LT(seconds, 5.0);
}

}  // namespace
}  // namespace vlm::models
