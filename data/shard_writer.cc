#include "data/shard_writer.h"

#include <cstdio>
#include <mutex>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/files.h"
#include "hdf5/handles.h"

namespace vlm::data {
namespace {

using h5::Handle;

// Chunks of 64 KiB (columns past kFlushBytes): a random read of one small image touches little
// more than itself, and the partly filled last chunk of a column wastes at most that much.
constexpr hsize_t kChunkBytes = 64 * 1024;
// Bytes gathered in memory before they are appended to the file.
constexpr size_t kFlushBytes = 4 * 1024 * 1024;

Handle create_group(hid_t parent, const char* name, const std::string& path) {
  const Handle plist = h5::group_creation_plist();
  return h5::checked(H5Gcreate2(parent, name, H5P_DEFAULT, plist.get(), H5P_DEFAULT), path,
                     std::string("cannot create group ") + name);
}

// A ragged column: entries appended one by one. A column that stays under kFlushBytes is written
// in one piece, contiguous, at finish(); a larger one goes to a chunked, extendible dataset in
// blocks, so memory stays bounded. Either way the bytes depend only on the content.
class RaggedColumn {
 public:
  // Creates `data` and `offsets` in group (not owned).
  RaggedColumn(hid_t group, const std::string& path) : path_(path), group_(group) {
    offsets_.push_back(0);
  }

  void append(std::string_view bytes) {
    buffer_.append(bytes.data(), bytes.size());
    offsets_.push_back(offsets_.back() + static_cast<int64_t>(bytes.size()));
    if (buffer_.size() >= kFlushBytes) flush();
  }

  void finish() {
    if (data_.valid()) {
      flush();
    } else {
      write_contiguous();
    }
    h5::write_column(group_, "offsets", offsets_, path_);
    data_.reset();
  }

 private:
  void write_contiguous() {
    const hsize_t size = buffer_.size();
    const Handle space =
        h5::checked(H5Screate_simple(1, &size, &size), path_, "cannot create a dataspace");
    const Handle plist = h5::dataset_creation_plist();
    data_ = h5::checked(H5Dcreate2(group_, "data", H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                   plist.get(), H5P_DEFAULT),
                        path_, "cannot create a ragged column");
    if (size == 0) return;
    h5::check_status(
        H5Dwrite(data_.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer_.data()),
        path_, "cannot write a column");
    buffer_.clear();
  }

  void create_chunked() {
    const hsize_t initial = 0;
    const hsize_t unlimited = H5S_UNLIMITED;
    const Handle space =
        h5::checked(H5Screate_simple(1, &initial, &unlimited), path_, "cannot create a dataspace");
    const Handle plist = h5::chunked_creation_plist(kChunkBytes);
    data_ = h5::checked(H5Dcreate2(group_, "data", H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                   plist.get(), H5P_DEFAULT),
                        path_, "cannot create a ragged column");
  }

  void flush() {
    if (!data_.valid()) create_chunked();
    if (buffer_.empty()) return;
    const hsize_t start = written_;
    const hsize_t count = buffer_.size();
    const hsize_t end = start + count;
    h5::check_status(H5Dset_extent(data_.get(), &end), path_, "cannot extend a column");
    const Handle file_space = h5::checked(H5Dget_space(data_.get()), path_, "no dataspace");
    h5::check_status(
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr),
        path_, "cannot select a range");
    const Handle memory_space =
        h5::checked(H5Screate_simple(1, &count, nullptr), path_, "cannot create a dataspace");
    h5::check_status(H5Dwrite(data_.get(), H5T_NATIVE_UINT8, memory_space.get(), file_space.get(),
                              H5P_DEFAULT, buffer_.data()),
                     path_, "cannot append to a column");
    written_ = end;
    buffer_.clear();
  }

  std::string path_;
  hid_t group_;
  Handle data_;
  std::vector<int64_t> offsets_;
  std::string buffer_;
  hsize_t written_ = 0;
};

}  // namespace

struct ShardWriter::Impl {
  std::string path;
  std::string temp;
  ShardHeader header;
  int64_t format_version = kShardFormatVersion;
  Handle file;
  Handle samples_group, images_group, skipped_group;
  std::vector<Handle> column_groups;
  std::unique_ptr<RaggedColumn> ids, records, images, skipped_ids, skipped_reasons, skipped_details;
  std::vector<int64_t> record_index, text_length, skipped_record_index;
  std::vector<int32_t> image_count, width, height;
  bool finished = false;

  std::unique_ptr<RaggedColumn> ragged(hid_t parent, const char* name) {
    column_groups.push_back(create_group(parent, name, temp));
    return std::make_unique<RaggedColumn>(column_groups.back().get(), temp);
  }

  void open() {
    h5::quiet_errors();
    const Handle create_plist =
        h5::checked(H5Pcreate(H5P_FILE_CREATE), temp, "cannot create a file plist");
    h5::check_status(H5Pset_obj_track_times(create_plist.get(), false), temp,
                     "cannot turn off timestamps");
    // Default file-format bounds (the earliest format): any HDF5 1.8+ reader, h5py too, opens it.
    file = h5::checked(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, create_plist.get(), H5P_DEFAULT),
                       temp, "cannot create the shard file");
    samples_group = create_group(file.get(), "samples", temp);
    images_group = create_group(file.get(), "images", temp);
    skipped_group = create_group(file.get(), "skipped", temp);
    ids = ragged(samples_group.get(), "id");
    records = ragged(samples_group.get(), "record");
    images = std::make_unique<RaggedColumn>(images_group.get(), temp);
    skipped_ids = ragged(skipped_group.get(), "id");
    skipped_reasons = ragged(skipped_group.get(), "reason");
    skipped_details = ragged(skipped_group.get(), "detail");
  }

  void write_header() {
    const hid_t root = file.get();
    h5::write_attribute(root, "format_version", format_version, temp);
    h5::write_attribute(root, "source", header.source, temp);
    h5::write_attribute(root, "source_checksum", header.source_checksum, temp);
    h5::write_attribute(root, "first_record", header.first_record, temp);
    h5::write_attribute(root, "record_count", header.record_count, temp);
    h5::write_attribute(root, "fingerprint", header.fingerprint, temp);
    h5::write_attribute(root, "sample_count", static_cast<int64_t>(record_index.size()), temp);
    h5::write_attribute(root, "image_total", static_cast<int64_t>(width.size()), temp);
  }

  void write_columns() {
    for (auto* column : {ids.get(), records.get(), images.get(), skipped_ids.get(),
                         skipped_reasons.get(), skipped_details.get()}) {
      column->finish();
    }
    h5::write_column(samples_group.get(), "record_index", record_index, temp);
    h5::write_column(samples_group.get(), "text_length", text_length, temp);
    h5::write_column(samples_group.get(), "image_count", image_count, temp);
    h5::write_column(images_group.get(), "width", width, temp);
    h5::write_column(images_group.get(), "height", height, temp);
    h5::write_column(skipped_group.get(), "record_index", skipped_record_index, temp);
  }
};

ShardWriter::ShardWriter(std::string path, ShardHeader header, int64_t format_version)
    : impl_(std::make_unique<Impl>()) {
  impl_->format_version = format_version;
  impl_->path = std::move(path);
  impl_->temp = impl_->path + ".tmp";
  impl_->header = std::move(header);
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  impl_->open();
}

ShardWriter::~ShardWriter() {
  if (impl_->finished) return;
  // An unfinished file goes away: only finish() makes a shard.
  const std::string temp = impl_->temp;
  {
    std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
    impl_.reset();
  }
  std::remove(temp.c_str());
}

void ShardWriter::add(const ShardSample& sample) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  Impl& s = *impl_;
  s.record_index.push_back(sample.record_index);
  s.text_length.push_back(sample.text_length);
  s.image_count.push_back(static_cast<int32_t>(sample.images.size()));
  s.ids->append(sample.id);
  s.records->append(sample.record_json);
  for (const EncodedImage& image : sample.images) {
    s.images->append(image.bytes);
    s.width.push_back(image.width);
    s.height.push_back(image.height);
  }
}

void ShardWriter::add_skipped(const SkippedRecord& skipped) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  Impl& s = *impl_;
  s.skipped_record_index.push_back(skipped.record_index);
  s.skipped_ids->append(skipped.id);
  s.skipped_reasons->append(skip_reason_name(skipped.reason));
  s.skipped_details->append(skipped.detail);
}

void ShardWriter::finish() {
  Impl& s = *impl_;
  VLM_CHECK(!s.finished, InternalError, "shard ", s.path, " finished twice");
  {
    std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
    s.write_columns();
    s.write_header();
    s.column_groups.clear();
    s.samples_group.reset();
    s.images_group.reset();
    s.skipped_group.reset();
    VLM_CHECK(s.file.close(), IoError, s.temp, ": closing the shard file failed");
  }
  files::commit_file(s.temp, s.path);
  s.finished = true;
}

int64_t ShardWriter::samples() const { return static_cast<int64_t>(impl_->record_index.size()); }
int64_t ShardWriter::skipped() const {
  return static_cast<int64_t>(impl_->skipped_record_index.size());
}

}  // namespace vlm::data
