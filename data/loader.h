// The data loader: corpus file or shards -> deterministic sampler -> tokenize + image preprocessing
// -> padded batches, prepared by background threads. Its position is one global sample counter.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/image_root.h"
#include "data/tokenizer.h"
#include "recipes/recipe.h"

namespace vlm::data {

class LoaderImpl;

struct LoaderOptions {
  recipes::DataSection data;
  uint64_t seed = 0;
  int64_t image_size = 0;  // vision.image_size
  // model.vision.hf_path: its preprocessor_config.json sets the image processor (size, crop,
  // mean, std); empty: OpenAI CLIP's at image_size (data/image.h).
  std::string vision_folder;
  int64_t image_tokens = 0;  // tokens per image after the vision tower
  int64_t batch_size = 0;    // samples per batch this rank reads (micro batch)
  int64_t rank = 0;
  int64_t world_size = 1;
  // VDEP hybrid batches (0: none): vdep_ratio VDEP-mode samples, where each image is preceded by
  // the "<auto_image>" token, per LLaVA-mode sample. vdep_split kExact: every global batch holds
  // exactly round(B r / (1 + r)) VDEP-mode rows at seeded positions, each mode reading its own
  // seeded passes over the corpus (data/vdep_mix.h; data.sampler must be random); an epoch is one
  // LLaVA-mode pass. kShuffled: an epoch reads the corpus once in LLaVA mode and, for a further
  // vdep_ratio x samples entries (the corpus again, cycled), in VDEP mode, the sampler shuffling
  // both kinds together, so a batch holds that share only on average.
  double vdep_ratio = 0.0;
  recipes::VdepSplit vdep_split = recipes::VdepSplit::kExact;
  // false: a VDEP-mode row carries no labels (vdep.txt 3.3: that half gives only the image loss).
  bool vdep_text_loss = false;
  // Samples per optimizer step over all ranks (training.global_batch_size); 0: batch_size *
  // world_size. Must be a multiple of batch_size * world_size. The modality_length sampler
  // keeps each global batch to one modality, so the stream stays the same for any world size
  // and any micro-batch split of the same global batch.
  int64_t global_batch_size = 0;
};

// What the batches next() returned on this rank so far held.
struct LoaderStats {
  // Samples whose image did not decode, each left out of the loss (see Loader). A sample met in
  // several epochs counts each time; prefetched batches count once handed out.
  int64_t undecodable_samples = 0;
};

// Reads from data.json (a corpus file, parsed whole at construction, every record
// render-checked so a malformed one fails here naming the file and record) or data.shards (a
// vlm-shard folder: index.json and the per-sample lengths at construction, samples from the
// shard files on demand); both feed the same per-sample path (data/sample_source.h), so the two
// give identical batches for the same corpus. The n-th call to next() on rank r reads the
// global positions base + n * world_size * batch_size + r * batch_size + [0, batch_size), where
// base is the last seek() (0 at first); the sample at a position depends only on (seed,
// position) (and, for modality_length, global_batch_size), so every world size and resume
// point walks the same stream. data.loader_threads threads (0: prepare in next() itself) keep
// data.prefetch_batches batches ready ahead; the result does not depend on them.
// An image that does not decode (vlm-shard checks only headers) never stops the run: its sample
// keeps its slot, so no other sample moves on any rank, but gets mean-colour pixels and no
// labels, so it adds nothing to the loss; a warning names the sample and stats() counts it.
// Other errors of a sample (a missing image file of a JSON corpus, a record the template cannot
// use) surface from the next() that returns it.
class Loader {
 public:
  Loader(const LoaderOptions& options, std::shared_ptr<const Tokenizer> tokenizer);
  ~Loader();

  int64_t samples_per_epoch() const;
  LoaderStats stats() const;
  // Starts (or restarts) reading at a global sample counter: the number of samples consumed
  // by all ranks since the start of the stage. Epoch = counter / samples_per_epoch.
  void seek(int64_t global_sample);
  // The next micro batch of this rank. Ranks read interleaved slices of each global batch.
  Batch next();

 private:
  std::unique_ptr<LoaderImpl> impl_;
};

// Resolves a path from the data section: absolute stays, relative goes under corpus_dir.
std::string resolve(const recipes::DataSection& data, const std::string& path);

// data.max_image_bytes and data.max_image_pixels.
ImageLimits image_limits(const recipes::DataSection& data);
// data.follow_symlinks.
ImageLinks image_links(const recipes::DataSection& data);
// The folder a JSON corpus's image paths are relative to: data.image_root, else corpus_dir, else
// the working directory.
std::string image_folder(const recipes::DataSection& data);

}  // namespace vlm::data
