// The HDF5 wrapper, shared by data/*.cc and checkpoint/*.cc (never include it from a header):
// RAII handles and small helpers over HDF5's C API. Debian's HDF5 is the Open MPI build, whose
// hdf5.h includes mpi.h; keeping it out of headers keeps MPI out of every other library's
// compile.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace vlm::h5 {

// Debian's HDF5 is not built thread-safe: every HDF5 call in the process goes through this lock.
std::recursive_mutex& library_mutex();

// Turns off HDF5's own error-stack printing (errors become exceptions with our messages).
void quiet_errors();

// Owns an hid_t and closes it with the function that matches its kind.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  // Closes now and reports failure (a file's close flushes: its error matters).
  bool close();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Throws `what` as an IoError naming path when id is negative; otherwise owns it.
Handle checked(hid_t id, const std::string& path, const std::string& what);
void check_status(herr_t status, const std::string& path, const std::string& what);

// Creation property lists that make files reproducible byte for byte: no object timestamps.
Handle group_creation_plist();
Handle dataset_creation_plist();  // contiguous
Handle chunked_creation_plist(hsize_t chunk_elements);

void write_attribute(hid_t object, const char* name, int64_t value, const std::string& path);
void write_attribute(hid_t object, const char* name, const std::string& value,
                     const std::string& path);
bool has_attribute(hid_t object, const char* name);
int64_t read_int_attribute(hid_t object, const char* name, const std::string& path);
std::string read_string_attribute(hid_t object, const char* name, const std::string& path);

// Whole 1-D datasets, contiguous, written in one call.
void write_column(hid_t parent, const char* name, const std::vector<int64_t>& values,
                  const std::string& path);
void write_column(hid_t parent, const char* name, const std::vector<int32_t>& values,
                  const std::string& path);
std::vector<int64_t> read_int64_column(hid_t parent, const char* name, const std::string& path);
std::vector<int32_t> read_int32_column(hid_t parent, const char* name, const std::string& path);
// Elements [first, first + count) of a 1-D dataset of bytes or int64.
std::string read_bytes(hid_t dataset, int64_t first, int64_t count, const std::string& path);
std::vector<int64_t> read_int64_range(hid_t dataset, int64_t first, int64_t count,
                                      const std::string& path);

}  // namespace vlm::h5
