#include "monitor/tfevents.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/crc32c.h"
#include "common/error.h"

namespace vlm::monitor::tfevents {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

constexpr uint32_t kEventWallTime = 1;
constexpr uint32_t kEventStep = 2;
constexpr uint32_t kEventFileVersion = 3;
constexpr uint32_t kEventSummary = 5;
constexpr uint32_t kSummaryValue = 1;
constexpr uint32_t kValueTag = 1;
constexpr uint32_t kValueSimpleValue = 2;

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_little_endian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

void put_double(std::string& out, uint32_t field, double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float value) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

uint64_t get_little_endian(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return value;
}

// Reads a varint at `pos`, advancing it; false when the bytes end inside it.
bool get_varint(std::string_view bytes, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < bytes.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(bytes[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

std::string file_version_event(double wall_time) {
  std::string event;
  put_double(event, kEventWallTime, wall_time);
  put_bytes(event, kEventFileVersion, "brain.Event:2");
  return event;
}

std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars) {
  std::string summary;
  for (const Scalar& scalar : scalars) {
    std::string value;
    put_bytes(value, kValueTag, scalar.tag);
    put_float(value, kValueSimpleValue, scalar.value);
    put_bytes(summary, kSummaryValue, value);
  }
  std::string event;
  put_double(event, kEventWallTime, wall_time);
  put_key(event, kEventStep, kVarint);
  put_varint(event, static_cast<uint64_t>(step));
  put_bytes(event, kEventSummary, summary);
  return event;
}

std::string frame_record(std::string_view data) {
  std::string record;
  put_little_endian(record, data.size(), 8);
  put_little_endian(record, mask_crc32c(crc32c(record)), 4);
  record.append(data);
  put_little_endian(record, mask_crc32c(crc32c(data)), 4);
  return record;
}

std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string_view bytes(file);
  std::vector<std::string> records;
  size_t pos = 0;
  while (bytes.size() - pos >= 12) {
    const std::string_view length_bytes = bytes.substr(pos, 8);
    if (get_little_endian(bytes.substr(pos + 8, 4)) != mask_crc32c(crc32c(length_bytes))) break;
    const uint64_t length = get_little_endian(length_bytes);
    if (length > bytes.size() - pos - 16) break;
    const std::string_view data = bytes.substr(pos + 12, length);
    if (get_little_endian(bytes.substr(pos + 12 + length, 4)) != mask_crc32c(crc32c(data))) break;
    records.emplace_back(data);
    pos += 16 + length;
  }
  return records;
}

int64_t event_step(std::string_view event) {
  size_t pos = 0;
  uint64_t key = 0;
  while (pos < event.size() && get_varint(event, pos, key)) {
    uint64_t value = 0;
    switch (key & 7) {
      case kVarint:
        if (!get_varint(event, pos, value)) return -1;
        if ((key >> 3) == kEventStep) return static_cast<int64_t>(value);
        break;
      case kFixed64:
        pos += 8;
        break;
      case kFixed32:
        pos += 4;
        break;
      case kLengthDelimited:
        if (!get_varint(event, pos, value)) return -1;
        pos += value;
        break;
      default:
        return -1;  // groups: not in Event
    }
  }
  return -1;
}

EventFile::EventFile(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const double now = unix_seconds();
  const std::string base =
      dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + host_name();
  path_ = base;
  // A resumed run started within the same second as the last one: its file stays.
  for (int n = 1; std::filesystem::exists(path_); ++n) path_ = base + "." + std::to_string(n);
  out_.open(path_, std::ios::binary);
  VLM_CHECK(out_, IoError, "cannot create TensorBoard event file ", path_);
  write_record(file_version_event(now));
}

void EventFile::write_scalars(int64_t step, const std::vector<Scalar>& scalars) {
  write_record(scalars_event(unix_seconds(), step, scalars));
}

void EventFile::write_record(const std::string& data) {
  out_ << frame_record(data);
  out_.flush();
  VLM_CHECK(out_, IoError, "cannot write TensorBoard event file ", path_);
}

}  // namespace vlm::monitor::tfevents
