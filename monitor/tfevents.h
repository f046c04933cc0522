// TensorBoard's event file format, written (and read back) without TensorFlow or protobuf.
// A file is a sequence of records: uint64 length, masked CRC-32C of those 8 bytes, the data,
// masked CRC-32C of the data (little-endian). Each record's data is an Event message:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::monitor::tfevents {

struct Scalar {
  std::string tag;
  float value = 0.0f;
};

// The first event of every file: TensorBoard checks the version string.
std::string file_version_event(double wall_time);
std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars);

// One record around data, as written to the file.
std::string frame_record(std::string_view data);

// The data of each record of a file, in order, up to the first record that is cut short or
// fails a CRC (a writer killed mid-record leaves such a tail).
std::vector<std::string> read_records(const std::string& path);

// The step field of an Event message; -1 when it has none (the file_version event).
int64_t event_step(std::string_view event);

// Appends events to one file, flushing each so that a killed run loses nothing written.
class EventFile {
 public:
  // Creates <dir>/events.out.tfevents.<unix time>.<hostname> (with a suffix should that exist)
  // and writes its file_version event.
  explicit EventFile(const std::string& dir);
  void write_scalars(int64_t step, const std::vector<Scalar>& scalars);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

}  // namespace vlm::monitor::tfevents
