// One rank's file of a checkpoint: HDF5, one 1-D fp32 dataset per slice, named by its buffer,
// with the slice's place as attributes. HDF5 calls take data/'s library lock (HDF5 is not built
// thread-safe, and the loader's threads use it too).
#pragma once

#include <string>
#include <vector>

#include "checkpoint/manifest.h"
#include "state/flat_slice.h"

namespace vlm::checkpoint {

// Writes the slices to `path` (replacing it), fsyncs it, and returns its FileInfo (name is the
// file's base name; checksum of the bytes written). IoError naming the path on failure.
FileInfo write_rank_file(const std::string& path, const std::vector<state::FlatSlice>& slices);

// Reads `count` elements of `buffer` from element `begin` (in buffer coordinates; the range must
// lie inside the file's slice of that buffer) into out. IoError / FormatError naming the path.
void read_rank_range(const std::string& path, const std::string& buffer, int64_t begin,
                     int64_t count, float* out);

}  // namespace vlm::checkpoint
