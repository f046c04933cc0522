#include "data/shard_reader.h"

#include <mutex>
#include <stdexcept>

#include "common/error.h"
#include "common/files.h"
#include "hdf5/handles.h"

namespace vlm::data {
namespace {

using h5::Handle;
using Lock = std::lock_guard<std::recursive_mutex>;

Handle open_file(const std::string& path) {
  VLM_CHECK(files::exists(path), IoError, "shard file ", path, " not found");
  h5::quiet_errors();
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  VLM_CHECK(id >= 0, FormatError, path, " is not a readable HDF5 shard file");
  return Handle(id);
}

int64_t checked_version(hid_t file, const std::string& path) {
  VLM_CHECK(h5::has_attribute(file, "format_version"), FormatError, path,
            " has no format_version attribute: not a vlm-shard file");
  const int64_t version = h5::read_int_attribute(file, "format_version", path);
  VLM_CHECK(version == kShardFormatVersion, FormatError, path, " has shard format version ",
            version, " but this build reads version ", kShardFormatVersion,
            ": re-run vlm-shard of this build on the corpus");
  return version;
}

constexpr int64_t kMaxEntryBytes = int64_t{1} << 30;
constexpr int32_t kMaxImagesPerSample = 1024;

// A ragged column opened for reading: its offsets in memory, its bytes on demand.
struct RaggedReader {
  Handle data;
  std::vector<int64_t> offsets;

  void open(hid_t group_parent, const char* group, const std::string& path) {
    const Handle handle = h5::checked(H5Gopen2(group_parent, group, H5P_DEFAULT), path,
                                      std::string("missing group ") + group);
    data = h5::checked(H5Dopen2(handle.get(), "data", H5P_DEFAULT), path,
                       std::string("missing dataset ") + group + "/data");
    offsets = h5::read_int64_column(handle.get(), "offsets", path);
    VLM_CHECK(!offsets.empty() && offsets.front() == 0, FormatError, path, ": ", group,
              "/offsets is empty or does not start at 0");
    // Entries are read by these offsets later: each must be a forward step of bounded size
    // (the reads themselves check the end against the dataset).
    for (size_t i = 1; i < offsets.size(); ++i) {
      const int64_t size = offsets[i] - offsets[i - 1];
      VLM_CHECK(size >= 0 && size <= kMaxEntryBytes, FormatError, path, ": ", group, "/offsets[", i,
                "] = ", offsets[i], " after ", offsets[i - 1], ": an entry must be 0 to 1 GiB");
    }
    // And the last must end within the bytes the dataset holds: checked here, so that
    // vlm-shard --verify refuses such a shard too, not only the read of the entry past the end.
    const Handle space = h5::checked(H5Dget_space(data.get()), path,
                                     std::string("cannot get the dataspace of ") + group + "/data");
    const hssize_t length = H5Sget_simple_extent_npoints(space.get());
    VLM_CHECK(length >= 0 && offsets.back() <= length, FormatError, path, ": ", group,
              "/offsets end at ", offsets.back(), " but ", group, "/data holds ", length, " bytes");
  }

  size_t entries() const { return offsets.size() - 1; }

  std::string entry(size_t i, const std::string& path) const {
    return h5::read_bytes(data.get(), offsets[i], offsets[i + 1] - offsets[i], path);
  }
};

}  // namespace

struct ShardReader::Impl {
  std::string path;
  Handle file;
  ShardHeader header;
  int64_t sample_count = 0;
  std::vector<int64_t> record_index, text_length;
  std::vector<int32_t> image_count, width, height;
  std::vector<int64_t> first_image;  // per sample: index of its first image
  RaggedReader ids, records, images;

  void open() {
    file = open_file(path);
    checked_version(file.get(), path);
    const hid_t root = file.get();
    header.source = h5::read_string_attribute(root, "source", path);
    header.source_checksum = h5::read_string_attribute(root, "source_checksum", path);
    header.first_record = h5::read_int_attribute(root, "first_record", path);
    header.record_count = h5::read_int_attribute(root, "record_count", path);
    header.fingerprint = h5::read_string_attribute(root, "fingerprint", path);
    sample_count = h5::read_int_attribute(root, "sample_count", path);
    VLM_CHECK(sample_count >= 0 && header.record_count >= 0 && header.first_record >= 0 &&
                  sample_count <= header.record_count,
              FormatError, path, ": sample_count ", sample_count, ", record_count ",
              header.record_count, ", first_record ", header.first_record,
              ": counts must be non-negative, samples no more than records");
    read_columns();
  }

  void read_columns() {
    const Handle samples =
        h5::checked(H5Gopen2(file.get(), "samples", H5P_DEFAULT), path, "missing group samples");
    record_index = h5::read_int64_column(samples.get(), "record_index", path);
    text_length = h5::read_int64_column(samples.get(), "text_length", path);
    image_count = h5::read_int32_column(samples.get(), "image_count", path);
    ids.open(samples.get(), "id", path);
    records.open(samples.get(), "record", path);
    images.open(file.get(), "images", path);
    const Handle image_group =
        h5::checked(H5Gopen2(file.get(), "images", H5P_DEFAULT), path, "missing group images");
    width = h5::read_int32_column(image_group.get(), "width", path);
    height = h5::read_int32_column(image_group.get(), "height", path);
    const auto n = static_cast<size_t>(sample_count);
    VLM_CHECK(record_index.size() == n && text_length.size() == n && image_count.size() == n &&
                  ids.entries() == n && records.entries() == n,
              FormatError, path, ": sample columns disagree with sample_count ", sample_count);
    first_image.resize(n);
    int64_t next = 0;
    for (size_t i = 0; i < n; ++i) {
      VLM_CHECK(image_count[i] >= 0 && image_count[i] <= kMaxImagesPerSample, FormatError, path,
                ": sample ", i, " has image_count ", image_count[i]);
      first_image[i] = next;
      next += image_count[i];
    }
    VLM_CHECK(images.entries() == static_cast<size_t>(next) &&
                  width.size() == static_cast<size_t>(next) &&
                  height.size() == static_cast<size_t>(next),
              FormatError, path, ": image columns disagree with the samples' image counts");
  }
};

ShardReader::ShardReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  Lock lock(h5::library_mutex());
  impl_->open();
}

ShardReader::~ShardReader() {
  if (!impl_) return;
  Lock lock(h5::library_mutex());
  impl_.reset();
}

ShardReader::ShardReader(ShardReader&&) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    Lock lock(h5::library_mutex());
    impl_ = std::move(other.impl_);
  }
  return *this;
}

const std::string& ShardReader::path() const { return impl_->path; }
const ShardHeader& ShardReader::header() const { return impl_->header; }
int64_t ShardReader::size() const { return impl_->sample_count; }
const std::vector<int64_t>& ShardReader::text_lengths() const { return impl_->text_length; }
const std::vector<int32_t>& ShardReader::image_counts() const { return impl_->image_count; }
const std::vector<int64_t>& ShardReader::record_indices() const { return impl_->record_index; }

ShardSample ShardReader::read(int64_t i) const {
  const Impl& s = *impl_;
  if (i < 0 || i >= s.sample_count) {
    throw std::out_of_range(s.path + ": sample " + std::to_string(i) + " of " +
                            std::to_string(s.sample_count));
  }
  const auto index = static_cast<size_t>(i);
  Lock lock(h5::library_mutex());
  ShardSample sample;
  sample.record_index = s.record_index[index];
  sample.text_length = s.text_length[index];
  sample.source = s.header.source;
  sample.id = s.ids.entry(index, s.path);
  sample.record_json = s.records.entry(index, s.path);
  for (int32_t k = 0; k < s.image_count[index]; ++k) {
    const auto image = static_cast<size_t>(s.first_image[index] + k);
    sample.images.push_back({s.images.entry(image, s.path), s.width[image], s.height[image]});
  }
  return sample;
}

std::vector<SkippedRecord> ShardReader::skipped() const {
  const Impl& s = *impl_;
  Lock lock(h5::library_mutex());
  const Handle group =
      h5::checked(H5Gopen2(s.file.get(), "skipped", H5P_DEFAULT), s.path, "missing group skipped");
  const auto record_index = h5::read_int64_column(group.get(), "record_index", s.path);
  RaggedReader ids, reasons, details;
  ids.open(group.get(), "id", s.path);
  reasons.open(group.get(), "reason", s.path);
  details.open(group.get(), "detail", s.path);
  VLM_CHECK(ids.entries() == record_index.size() && reasons.entries() == record_index.size() &&
                details.entries() == record_index.size(),
            FormatError, s.path, ": skipped columns disagree in length");
  std::vector<SkippedRecord> skipped;
  // One read per column, then split: a shard may list thousands of skips.
  const std::string all_ids = h5::read_bytes(ids.data.get(), 0, ids.offsets.back(), s.path);
  const std::string all_reasons =
      h5::read_bytes(reasons.data.get(), 0, reasons.offsets.back(), s.path);
  const std::string all_details =
      h5::read_bytes(details.data.get(), 0, details.offsets.back(), s.path);
  auto slice = [](const std::string& bytes, const std::vector<int64_t>& offsets, size_t i) {
    return bytes.substr(static_cast<size_t>(offsets[i]),
                        static_cast<size_t>(offsets[i + 1] - offsets[i]));
  };
  for (size_t i = 0; i < record_index.size(); ++i) {
    skipped.push_back({record_index[i], slice(all_ids, ids.offsets, i),
                       skip_reason_from_name(slice(all_reasons, reasons.offsets, i)),
                       slice(all_details, details.offsets, i)});
  }
  return skipped;
}

int64_t shard_format_version(const std::string& path) {
  Lock lock(h5::library_mutex());
  const Handle file = open_file(path);
  return h5::read_int_attribute(file.get(), "format_version", path);
}

}  // namespace vlm::data
