// vlm-synth: writes the synthetic shapes corpus (558K / 665K / VoRA formats, eval set, tokenizer).
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

#include "apps/main_support.h"
#include "data/synth.h"

namespace {

int run(int argc, char** argv) {
  vlm::data::synth::Options options;
  CLI::App app{"Writes the synthetic shapes corpus in the LLaVA and VoRA formats."};
  app.add_option("--out", options.out_dir, "output directory")->required();
  app.add_option("--seed", options.seed, "random seed (same seed: byte-identical files)");
  app.add_option("--captions", options.captions, "records of blip_laion_cc_sbu_558k.json");
  app.add_option("--instructions", options.instructions, "records of llava_v1_5_mix665k.json");
  app.add_option("--vora", options.vora, "lines of vora_30m.jsonl");
  app.add_option("--text-only-ratio", options.text_only_ratio,
                 "share of text-only records in the 665K and VoRA files");
  app.add_option("--eval", options.eval_images, "held-out images (three questions each)");
  app.add_option("--image-size", options.image_size, "image side in pixels");
  app.add_option("--vocab-size", options.vocab_size, "tokenizer vocabulary (upper bound)");
  app.add_option("--threads", options.threads, "image writer threads (0: one per core)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? vlm::apps::kExitOk : vlm::apps::kExitUsage;
  }

  const auto start = std::chrono::steady_clock::now();
  const auto counts = vlm::data::synth::generate(options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "vlm-synth: wrote " << options.out_dir << ": " << counts.captions << " captions, "
            << counts.instructions << " instructions (" << counts.instructions_text_only
            << " text-only), " << counts.vora << " VoRA lines (" << counts.vora_text_only
            << " text-only), " << counts.eval_questions << " eval questions, " << counts.images
            << " images, vocabulary " << counts.vocab_size << ", in " << seconds << " s\n";
  return vlm::apps::kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return vlm::apps::run_main(argc, argv, run); }
