// Safetensors files as tensors (the format and its header's validation: safetensors_header.h).
// The reader trusts nothing in a file: the header is validated before any allocation or read, and
// every problem is a FormatError naming the file and (where there is one) the tensor.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vlm::models {

struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range in the data section
  uint64_t end = 0;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class SafetensorsReader {
 public:
  // Opens path and validates its header (IoError when unreadable, FormatError when malformed).
  explicit SafetensorsReader(const std::string& path);
  // The same over bytes in memory; source_name stands for the file in messages.
  static SafetensorsReader from_bytes(std::string bytes, const std::string& source_name);

  const std::string& source_name() const { return source_name_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // sorted by name
  const SafetensorsEntry* find(const std::string& name) const;               // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A new tensor in the file's dtype (F32, F16, BF16, F64, I64, I32).
  at::Tensor read(const std::string& name) const;
  // Copies into dst (same shape, any dtype: converted), reading straight into dst's memory when
  // the dtypes match. Runs under no-grad, so dst may be a parameter.
  void read_into(const std::string& name, const at::Tensor& dst) const;

  class ByteSource;  // where the bytes come from (a file or memory)

 private:
  SafetensorsReader(std::shared_ptr<ByteSource> bytes, std::string source_name);
  const SafetensorsEntry& entry(const std::string& name) const;

  std::shared_ptr<ByteSource> bytes_;
  std::string source_name_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device; contiguous copies are made as needed) in the given order, the
// header padded with spaces to a multiple of 8. HF transformers wants metadata {"format": "pt"}.
// The file appears atomically (written to path + ".tmp", synced, renamed).
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
// The same file's bytes, in memory.
std::string safetensors_bytes(const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {
                                  {"format", "pt"}});

// "F32" <-> at::kFloat etc.; throws FormatError for names outside the supported set.
at::ScalarType safetensors_dtype(const std::string& name);
std::string safetensors_dtype_name(at::ScalarType dtype);
// The torch_dtype of a Hugging Face config.json ("float32", "bfloat16", ...).
std::string torch_dtype_name(at::ScalarType dtype);

}  // namespace vlm::models
