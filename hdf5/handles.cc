#include "hdf5/handles.h"

#include <cstring>

#include "common/error.h"

namespace vlm::h5 {
namespace {

herr_t close_by_type(hid_t id) {
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      return H5Fclose(id);
    case H5I_GROUP:
      return H5Gclose(id);
    case H5I_DATASET:
      return H5Dclose(id);
    case H5I_DATASPACE:
      return H5Sclose(id);
    case H5I_DATATYPE:
      return H5Tclose(id);
    case H5I_ATTR:
      return H5Aclose(id);
    case H5I_GENPROP_LST:
      return H5Pclose(id);
    default:
      return H5Idec_ref(id) < 0 ? -1 : 0;
  }
}

Handle space_1d(hsize_t size, hsize_t max_size, const std::string& path) {
  return checked(H5Screate_simple(1, &size, &max_size), path, "cannot create a dataspace");
}

Handle string_type(size_t length, const std::string& path) {
  Handle type = checked(H5Tcopy(H5T_C_S1), path, "cannot copy the string type");
  check_status(H5Tset_size(type.get(), length + 1), path, "cannot size a string type");
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), path, "cannot set string padding");
  return type;
}

template <typename T>
void write_whole(hid_t parent, const char* name, const std::vector<T>& values, hid_t file_type,
                 hid_t memory_type, const std::string& path) {
  const Handle space = space_1d(values.size(), values.size(), path);
  const Handle plist = dataset_creation_plist();
  const Handle dataset = checked(
      H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), path,
      std::string("cannot create dataset ") + name);
  if (values.empty()) return;
  check_status(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
               path, std::string("cannot write dataset ") + name);
}

// A column read whole lives in memory: a shard's columns hold one entry per sample or image.
constexpr hssize_t kMaxColumnElements = hssize_t{1} << 26;

template <typename T>
std::vector<T> read_whole(hid_t parent, const char* name, hid_t memory_type,
                          const std::string& path) {
  const Handle dataset =
      checked(H5Dopen2(parent, name, H5P_DEFAULT), path, std::string("missing dataset ") + name);
  const Handle space = checked(H5Dget_space(dataset.get()), path, "cannot get a dataspace");
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  VLM_CHECK(count >= 0 && count <= kMaxColumnElements, FormatError, path, ": dataset ", name,
            " has ", count, " elements (at most ", kMaxColumnElements, " are read whole)");
  std::vector<T> values(static_cast<size_t>(count));
  if (count > 0) {
    check_status(H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                 path, std::string("cannot read dataset ") + name);
  }
  return values;
}

void read_range(hid_t dataset, hid_t memory_type, int64_t first, int64_t count, void* out,
                const std::string& path) {
  if (count == 0) return;
  const Handle file_space = checked(H5Dget_space(dataset), path, "cannot get a dataspace");
  const hssize_t length = H5Sget_simple_extent_npoints(file_space.get());
  VLM_CHECK(first >= 0 && count > 0 && length >= 0 && first <= length && count <= length - first,
            FormatError, path, ": elements [", first, ", +", count, ") lie outside a dataset of ",
            length);
  const hsize_t start = static_cast<hsize_t>(first);
  const hsize_t size = static_cast<hsize_t>(count);
  check_status(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &size, nullptr), path,
      "cannot select a range");
  const Handle memory_space = space_1d(size, size, path);
  check_status(
      H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, out), path,
      "cannot read a range");
}

}  // namespace

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() { close(); }

bool Handle::close() {
  if (id_ < 0) return true;
  const herr_t status = close_by_type(id_);
  id_ = H5I_INVALID_HID;
  return status >= 0;
}

Handle checked(hid_t id, const std::string& path, const std::string& what) {
  VLM_CHECK(id >= 0, IoError, path, ": ", what);
  return Handle(id);
}

void check_status(herr_t status, const std::string& path, const std::string& what) {
  VLM_CHECK(status >= 0, IoError, path, ": ", what);
}

Handle group_creation_plist() {
  Handle plist = checked(H5Pcreate(H5P_GROUP_CREATE), "", "cannot create a group plist");
  check_status(H5Pset_obj_track_times(plist.get(), false), "", "cannot turn off timestamps");
  return plist;
}

Handle dataset_creation_plist() {
  Handle plist = checked(H5Pcreate(H5P_DATASET_CREATE), "", "cannot create a dataset plist");
  check_status(H5Pset_obj_track_times(plist.get(), false), "", "cannot turn off timestamps");
  check_status(H5Pset_layout(plist.get(), H5D_CONTIGUOUS), "", "cannot set a layout");
  // Storage is allocated when created and never left holding stale bytes.
  check_status(H5Pset_alloc_time(plist.get(), H5D_ALLOC_TIME_EARLY), "", "cannot set alloc time");
  check_status(H5Pset_fill_time(plist.get(), H5D_FILL_TIME_ALLOC), "", "cannot set fill time");
  return plist;
}

Handle chunked_creation_plist(hsize_t chunk_elements) {
  Handle plist = checked(H5Pcreate(H5P_DATASET_CREATE), "", "cannot create a dataset plist");
  check_status(H5Pset_obj_track_times(plist.get(), false), "", "cannot turn off timestamps");
  check_status(H5Pset_chunk(plist.get(), 1, &chunk_elements), "", "cannot set a chunk size");
  // The last chunk is partly filled: its tail is zeros, not whatever memory held.
  check_status(H5Pset_fill_time(plist.get(), H5D_FILL_TIME_ALLOC), "", "cannot set fill time");
  return plist;
}

void write_attribute(hid_t object, const char* name, int64_t value, const std::string& path) {
  const Handle space = checked(H5Screate(H5S_SCALAR), path, "cannot create a scalar space");
  const Handle attribute =
      checked(H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
              std::string("cannot create attribute ") + name);
  check_status(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value), path,
               std::string("cannot write attribute ") + name);
}

void write_attribute(hid_t object, const char* name, const std::string& value,
                     const std::string& path) {
  const Handle type = string_type(value.size(), path);
  const Handle space = checked(H5Screate(H5S_SCALAR), path, "cannot create a scalar space");
  const Handle attribute =
      checked(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
              std::string("cannot create attribute ") + name);
  std::vector<char> buffer(value.size() + 1, '\0');
  std::memcpy(buffer.data(), value.data(), value.size());
  check_status(H5Awrite(attribute.get(), type.get(), buffer.data()), path,
               std::string("cannot write attribute ") + name);
}

bool has_attribute(hid_t object, const char* name) { return H5Aexists(object, name) > 0; }

int64_t read_int_attribute(hid_t object, const char* name, const std::string& path) {
  VLM_CHECK(has_attribute(object, name), FormatError, path, ": attribute ", name, " is missing");
  const Handle attribute = checked(H5Aopen(object, name, H5P_DEFAULT), path,
                                   std::string("cannot open attribute ") + name);
  int64_t value = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), path,
               std::string("cannot read attribute ") + name);
  return value;
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& path) {
  VLM_CHECK(has_attribute(object, name), FormatError, path, ": attribute ", name, " is missing");
  const Handle attribute = checked(H5Aopen(object, name, H5P_DEFAULT), path,
                                   std::string("cannot open attribute ") + name);
  const Handle type = checked(H5Aget_type(attribute.get()), path, "cannot get a type");
  VLM_CHECK(H5Tget_class(type.get()) == H5T_STRING && !H5Tis_variable_str(type.get()), FormatError,
            path, ": attribute ", name, " is not a fixed-length string");
  const size_t size = H5Tget_size(type.get());
  std::vector<char> buffer(size + 1, '\0');
  check_status(H5Aread(attribute.get(), type.get(), buffer.data()), path,
               std::string("cannot read attribute ") + name);
  return std::string(buffer.data(), strnlen(buffer.data(), size));
}

void write_column(hid_t parent, const char* name, const std::vector<int64_t>& values,
                  const std::string& path) {
  write_whole(parent, name, values, H5T_STD_I64LE, H5T_NATIVE_INT64, path);
}

void write_column(hid_t parent, const char* name, const std::vector<int32_t>& values,
                  const std::string& path) {
  write_whole(parent, name, values, H5T_STD_I32LE, H5T_NATIVE_INT32, path);
}

std::vector<int64_t> read_int64_column(hid_t parent, const char* name, const std::string& path) {
  return read_whole<int64_t>(parent, name, H5T_NATIVE_INT64, path);
}

std::vector<int32_t> read_int32_column(hid_t parent, const char* name, const std::string& path) {
  return read_whole<int32_t>(parent, name, H5T_NATIVE_INT32, path);
}

std::string read_bytes(hid_t dataset, int64_t first, int64_t count, const std::string& path) {
  std::string bytes(static_cast<size_t>(count), '\0');
  read_range(dataset, H5T_NATIVE_UINT8, first, count, bytes.data(), path);
  return bytes;
}

std::vector<int64_t> read_int64_range(hid_t dataset, int64_t first, int64_t count,
                                      const std::string& path) {
  std::vector<int64_t> values(static_cast<size_t>(count));
  read_range(dataset, H5T_NATIVE_INT64, first, count, values.data(), path);
  return values;
}

}  // namespace vlm::h5
