// vlm-ckpt export: a checkpoint back to a whole model, the consolidated form a user takes to
// inference.
#pragma once

#include <string>

#include "cluster/communicator.h"

namespace vlm::worker {

// Rebuilds the model of a committed checkpoint (from the recipe stored in its manifest: the
// base model, each stage's LoRA up to the checkpoint's stage), loads the saved weights (written
// at any world size) and writes a HF-layout folder with LoRA merged. Reads the recipe's
// tokenizer for the vocabulary size. comm: a world of one is enough.
void export_checkpoint(const std::string& checkpoint_dir, const std::string& out_folder,
                       cluster::Communicator& comm);

}  // namespace vlm::worker
