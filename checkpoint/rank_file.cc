#include "checkpoint/rank_file.h"

#include <hdf5.h>

#include <filesystem>
#include <future>
#include <mutex>

#include "common/error.h"
#include "common/files.h"
#include "hdf5/handles.h"

namespace vlm::checkpoint {
namespace {

using h5::Handle;

// Buffer names hold '/', which HDF5 reads as groups: one flat dataset per slice instead.
std::string dataset_name(const std::string& buffer) {
  std::string name = buffer;
  for (char& c : name) {
    if (c == '/') c = '|';
  }
  return name;
}

// Contiguous, no timestamps (identical state -> identical bytes), and no fill pass: every
// element is written right after.
Handle slice_creation_plist(const std::string& path) {
  Handle plist = h5::checked(H5Pcreate(H5P_DATASET_CREATE), path, "cannot create a plist");
  h5::check_status(H5Pset_obj_track_times(plist.get(), false), path, "cannot drop timestamps");
  h5::check_status(H5Pset_layout(plist.get(), H5D_CONTIGUOUS), path, "cannot set a layout");
  h5::check_status(H5Pset_fill_time(plist.get(), H5D_FILL_TIME_NEVER), path,
                   "cannot set the fill time");
  return plist;
}

void write_slice(hid_t file, const state::FlatSlice& slice, const std::string& path) {
  VLM_CHECK(slice.values.scalar_type() == at::kFloat && slice.values.dim() == 1 &&
                slice.values.is_contiguous(),
            InternalError, path, ": slice of ", slice.buffer, " is not a contiguous fp32 vector");
  const hsize_t count = static_cast<hsize_t>(slice.values.numel());
  const Handle space =
      h5::checked(H5Screate_simple(1, &count, nullptr), path, "cannot create a dataspace");
  const Handle plist = slice_creation_plist(path);
  const Handle dataset =
      h5::checked(H5Dcreate2(file, dataset_name(slice.buffer).c_str(), H5T_IEEE_F32LE, space.get(),
                             H5P_DEFAULT, plist.get(), H5P_DEFAULT),
                  path, "cannot create dataset " + slice.buffer);
  if (count > 0) {
    h5::check_status(H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                              slice.values.data_ptr<float>()),
                     path, "cannot write " + slice.buffer);
  }
  h5::write_attribute(dataset.get(), "buffer", slice.buffer, path);
  h5::write_attribute(dataset.get(), "begin", slice.begin, path);
  h5::write_attribute(dataset.get(), "total", slice.total, path);
}

}  // namespace

FileInfo write_rank_file(const std::string& path, const std::vector<state::FlatSlice>& slices) {
  const std::string temp = path + ".tmp";
  {
    std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
    h5::quiet_errors();
    const Handle create =
        h5::checked(H5Pcreate(H5P_FILE_CREATE), temp, "cannot create a file plist");
    h5::check_status(H5Pset_obj_track_times(create.get(), false), temp, "cannot drop timestamps");
    Handle file = h5::checked(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, create.get(), H5P_DEFAULT),
                              temp, "cannot create the checkpoint file");
    for (const auto& slice : slices) write_slice(file.get(), slice, temp);
    VLM_CHECK(file.close(), IoError, temp, ": cannot close (write) the checkpoint file");
  }
  // The checksum reads the file back from the page cache while fsync waits for the disk; the
  // rename comes after both (commit_file's own fsync then finds nothing left to write).
  std::future<void> synced = std::async(std::launch::async, files::sync_file, temp);
  FileInfo info;
  info.checksum = files::checksum_file(temp);
  synced.get();
  files::commit_file(temp, path);
  info.name = std::filesystem::path(path).filename().string();
  info.bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  for (const auto& slice : slices) {
    info.slices.push_back({slice.buffer, slice.begin, slice.values.numel()});
  }
  return info;
}

void read_rank_range(const std::string& path, const std::string& buffer, int64_t begin,
                     int64_t count, float* out) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  h5::quiet_errors();
  const Handle file =
      h5::checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open");
  const std::string name = dataset_name(buffer);
  VLM_CHECK(H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) > 0, FormatError, path,
            ": no slice of buffer ", buffer);
  const Handle dataset =
      h5::checked(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), path, "cannot open " + buffer);
  const int64_t first = h5::read_int_attribute(dataset.get(), "begin", path);
  const Handle space = h5::checked(H5Dget_space(dataset.get()), path, "no dataspace");
  const auto held = static_cast<int64_t>(H5Sget_simple_extent_npoints(space.get()));
  VLM_CHECK(begin >= first && count >= 0 && begin + count <= first + held, FormatError, path,
            ": holds elements [", first, ", ", first + held, ") of ", buffer, ", not [", begin,
            ", ", begin + count, ")");
  if (count == 0) return;
  const hsize_t offset = static_cast<hsize_t>(begin - first);
  const hsize_t size = static_cast<hsize_t>(count);
  h5::check_status(
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &offset, nullptr, &size, nullptr), path,
      "cannot select a range of " + buffer);
  const Handle memory = h5::checked(H5Screate_simple(1, &size, nullptr), path, "no dataspace");
  h5::check_status(
      H5Dread(dataset.get(), H5T_NATIVE_FLOAT, memory.get(), space.get(), H5P_DEFAULT, out), path,
      "cannot read " + buffer);
}

}  // namespace vlm::checkpoint
