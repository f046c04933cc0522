#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "models/safetensors_header.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes little endian");

namespace vlm::models {
namespace {

using nlohmann::json;

const std::vector<std::pair<std::string, at::ScalarType>>& dtype_table() {
  static const std::vector<std::pair<std::string, at::ScalarType>> table = {
      {"F32", at::kFloat},  {"F16", at::kHalf}, {"BF16", at::kBFloat16},
      {"F64", at::kDouble}, {"I64", at::kLong}, {"I32", at::kInt}};
  return table;
}

bool lookup_dtype(const std::string& name, at::ScalarType* dtype) {
  for (const auto& [key, value] : dtype_table()) {
    if (key == name) {
      *dtype = value;
      return true;
    }
  }
  return false;
}

}  // namespace

at::ScalarType safetensors_dtype(const std::string& name) {
  at::ScalarType dtype;
  VLM_CHECK(lookup_dtype(name, &dtype), FormatError, "unsupported safetensors dtype '", name, "'");
  return dtype;
}

std::string safetensors_dtype_name(at::ScalarType dtype) {
  for (const auto& [key, value] : dtype_table()) {
    if (value == dtype) return key;
  }
  VLM_THROW(InternalError, "safetensors cannot store dtype ", c10::toString(dtype));
}

// ---- Reading --------------------------------------------------------------------------------

class SafetensorsReader::ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly count bytes at offset; returns false when the source ends first.
  virtual bool read_at(uint64_t offset, uint64_t count, void* destination) const = 0;
};

namespace {

class FileSource : public SafetensorsReader::ByteSource {
 public:
  explicit FileSource(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    VLM_CHECK(fd_ >= 0, IoError, "cannot open ", path, ": ", std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd_);
      VLM_THROW(IoError, path, " is not a readable regular file");
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  bool read_at(uint64_t offset, uint64_t count, void* destination) const override {
    auto* out = static_cast<char*>(destination);
    while (count > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, 1ULL << 30));
      const ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      out += got;
      offset += static_cast<uint64_t>(got);
      count -= static_cast<uint64_t>(got);
    }
    return true;
  }

 private:
  int fd_;
  uint64_t size_ = 0;
};

class MemorySource : public SafetensorsReader::ByteSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  bool read_at(uint64_t offset, uint64_t count, void* destination) const override {
    if (offset > bytes_.size() || count > bytes_.size() - offset) return false;
    if (count == 0) return true;  // an empty tensor's data pointer may be null
    std::memcpy(destination, bytes_.data() + offset, static_cast<size_t>(count));
    return true;
  }

 private:
  std::string bytes_;
};

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path)
    : SafetensorsReader(std::make_shared<FileSource>(path), path) {}

SafetensorsReader SafetensorsReader::from_bytes(std::string bytes, const std::string& source_name) {
  return SafetensorsReader(std::make_shared<MemorySource>(std::move(bytes)), source_name);
}

SafetensorsReader::SafetensorsReader(std::shared_ptr<ByteSource> bytes, std::string source_name)
    : bytes_(std::move(bytes)), source_name_(std::move(source_name)) {
  const std::string& source = source_name_;
  const uint64_t size = bytes_->size();
  uint8_t length_bytes[8];
  VLM_CHECK(size >= 8 && bytes_->read_at(0, 8, length_bytes), FormatError, "safetensors ", source,
            ": file of ", size, " bytes is too short for the 8-byte header length");
  const uint64_t header_length = safetensors_header_length(length_bytes, size, source);
  std::string header_json(static_cast<size_t>(header_length), '\0');
  VLM_CHECK(bytes_->read_at(8, header_length, header_json.data()), FormatError, "safetensors ",
            source, ": cannot read the header");
  data_start_ = 8 + header_length;

  SafetensorsHeader header = parse_safetensors_header(header_json, size - data_start_, source);
  metadata_ = std::move(header.metadata);
  for (auto& parsed : header.entries) {
    entries_.push_back({std::move(parsed.name), safetensors_dtype(parsed.dtype),
                        std::move(parsed.shape), parsed.begin, parsed.end});
  }
}

const SafetensorsEntry* SafetensorsReader::find(const std::string& name) const {
  const auto it =
      std::lower_bound(entries_.begin(), entries_.end(), name,
                       [](const auto& entry, const auto& key) { return entry.name < key; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

const SafetensorsEntry& SafetensorsReader::entry(const std::string& name) const {
  const SafetensorsEntry* found = find(name);
  VLM_CHECK(found != nullptr, ShapeError, "safetensors ", source_name_, " has no tensor '", name,
            "'");
  return *found;
}

at::Tensor SafetensorsReader::read(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  at::Tensor tensor = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
  VLM_CHECK(bytes_->read_at(data_start_ + e.begin, e.end - e.begin, tensor.data_ptr()), FormatError,
            "safetensors ", source_name_, ": tensor '", name,
            "': the file ends before its data (was it truncated after opening?)");
  return tensor;
}

void SafetensorsReader::read_into(const std::string& name, const at::Tensor& dst) const {
  const SafetensorsEntry& e = entry(name);
  VLM_CHECK(dst.sizes() == at::IntArrayRef(e.shape), ShapeError, "safetensors ", source_name_,
            ": tensor '", name, "' has shape ", at::IntArrayRef(e.shape), ", expected ",
            dst.sizes());
  c10::NoGradGuard no_grad;
  if (dst.scalar_type() == e.dtype && dst.is_contiguous() && dst.device().is_cpu()) {
    VLM_CHECK(bytes_->read_at(data_start_ + e.begin, e.end - e.begin, dst.data_ptr()), FormatError,
              "safetensors ", source_name_, ": tensor '", name,
              "': the file ends before its data (was it truncated after opening?)");
    return;
  }
  dst.copy_(read(name));
}

// ---- Writing --------------------------------------------------------------------------------

namespace {

struct PreparedTensors {
  std::string header;  // length prefix + padded JSON
  std::vector<at::Tensor> contiguous;
};

PreparedTensors prepare(const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  PreparedTensors prepared;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    VLM_CHECK(tensor.defined(), InternalError, "safetensors: tensor '", name, "' is undefined");
    VLM_CHECK(name != "__metadata__" && seen.insert(name).second, InternalError,
              "safetensors: tensor name '", name, "' is reserved or repeated");
    at::Tensor flat = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = flat.numel() * flat.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(flat.scalar_type())},
                    {"shape", flat.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    prepared.contiguous.push_back(std::move(flat));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t length = text.size();
  prepared.header.resize(8);
  for (int i = 0; i < 8; ++i) prepared.header[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  prepared.header += text;
  return prepared;
}

void write_fully(int fd, const char* data, uint64_t count, const std::string& path) {
  while (count > 0) {
    const ssize_t put =
        ::write(fd, data, static_cast<size_t>(std::min<uint64_t>(count, 1ULL << 30)));
    if (put < 0 && errno == EINTR) continue;
    VLM_CHECK(put > 0, IoError, "cannot write ", path, ": ", std::strerror(errno));
    data += put;
    count -= static_cast<uint64_t>(put);
  }
}

}  // namespace

std::string safetensors_bytes(const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  PreparedTensors prepared = prepare(tensors, metadata);
  std::string bytes = std::move(prepared.header);
  for (const at::Tensor& t : prepared.contiguous) {
    if (t.numel() == 0) continue;  // its data pointer may be null
    bytes.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return bytes;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const PreparedTensors prepared = prepare(tensors, metadata);
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  VLM_CHECK(fd >= 0, IoError, "cannot create ", temp, ": ", std::strerror(errno));
  try {
    write_fully(fd, prepared.header.data(), prepared.header.size(), temp);
    for (const at::Tensor& t : prepared.contiguous) {
      write_fully(fd, static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size(), temp);
    }
    VLM_CHECK(::fsync(fd) == 0, IoError, "fsync of ", temp, " failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  VLM_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, IoError, "cannot rename ", temp, " to ",
            path, ": ", std::strerror(errno));
}

std::string torch_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    case at::kDouble:
      return "float64";
    default:
      return "float32";
  }
}

}  // namespace vlm::models
