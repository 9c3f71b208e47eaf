// Appending record batches to an episode segment (episode_writer.h): write,
// fsync, roll.
#include "episode_writer.h"

#include <fcntl.h>

#include <cerrno>

#include "errors.h"
#include "file_io.h"
#include "parallel.h"
#include "store_ops.h"
#include "syscall_seam.h"

namespace tk::episodes {

EpisodeWriter::EpisodeWriter(const std::string& segment_path, uint64_t valid_bytes, int level) : level_(level) {
  open_segment(segment_path, valid_bytes);
}

EpisodeWriter::~EpisodeWriter() { close_fd(); }

void EpisodeWriter::close_fd() {
  // Nothing unsynced is ever promised, so a failing close changes nothing.
  if (fd_ >= 0) sys::close(fd_);
  fd_ = -1;
}

void EpisodeWriter::open_segment(const std::string& path, uint64_t valid_bytes) {
  struct stat st;
  int fd = open_regular(path, O_WRONLY, 0, ErrorCode::Corrupt, &st);
  const uint64_t size = uint64_t(st.st_size);
  if (size != valid_bytes || valid_bytes < kSegmentHeaderBytes) {
    sys::close(fd);
    throw Error(ErrorCode::BadInput, path + " holds " + std::to_string(size) + " bytes, the writer was told " +
                                         std::to_string(valid_bytes) + ": cut the damaged tail first");
  }
  close_fd();
  fd_ = fd;
  path_ = path;
  size_ = size;
  broken_ = false;
}

void EpisodeWriter::create_segment(const std::string& path, const SegmentHeader& header) {
  struct stat st;
  int fd = open_regular(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, ErrorCode::Corrupt, &st);
  uint8_t bytes[kSegmentHeaderBytes];
  encode_segment_header(header, bytes);
  int err = pwrite_all(fd, bytes, sizeof(bytes), 0);
  const char* failed = err ? "pwrite" : nullptr;
  // A durable header before any record: a segment that a completed roll
  // created always says which ids it starts at, even if it never gets a record.
  if (!failed && sys::fsync(fd) != 0) failed = "fsync", err = errno;
  if (sys::close(fd) != 0 && !failed) failed = "close", err = errno;
  if (failed) throw_sys_error(failed, path, err);
  fsync_dir(dirname_of(path));
}

void EpisodeWriter::roll(const Roll& roll) {
  write_file_atomic(roll.index_path, roll.index_bytes.data(), roll.index_bytes.size());
  create_segment(roll.segment_path, roll.header);
  open_segment(roll.segment_path, kSegmentHeaderBytes);
}

std::vector<WrittenRecord> EpisodeWriter::commit(const uint8_t* batch, size_t len, size_t count, Codec codec) {
  if (fd_ < 0) throw Error(ErrorCode::Io, "episode writer has no open segment");
  if (broken_)
    throw Error(ErrorCode::Io, path_ + ": a failed commit could not be cut back; continue in a new segment");
  std::vector<Record> records;
  records.reserve(count);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    records.push_back(parse_record(batch + at, len - at, true, "record " + std::to_string(i) + " of the batch"));
    at += records.back().bytes;
  }
  if (at != len)
    throw Error(ErrorCode::BadInput, "batch of " + std::to_string(len) + " bytes holds " + std::to_string(at) +
                                         " bytes of " + std::to_string(count) + " records");
  // Contiguous runs of records, one per thread, each encoded into its own
  // buffer; the buffers are written one after the other.
  const size_t parts = size_t(threads_for(len, hardware_threads(), kMinCodecBytesPerThread));
  while (encoders_.size() < parts) encoders_.push_back(std::make_unique<RecordEncoder>(level_));
  if (frames_.size() < parts) frames_.resize(parts);
  std::vector<size_t> frame_end(count);
  auto first_of = [&](size_t part) { return count * part / parts; };
  parallel_for(parts, int(parts), [&](size_t part, int) {
    std::vector<uint8_t>& out = frames_[part];
    out.clear();
    for (size_t i = first_of(part); i < first_of(part + 1); i++) {
      encoders_[part]->encode(records[i], codec, out);
      frame_end[i] = out.size();
    }
  });
  std::vector<WrittenRecord> written(count);
  uint64_t end = size_;
  for (size_t part = 0; part < parts; part++) {
    for (size_t i = first_of(part), prev = 0; i < first_of(part + 1); prev = frame_end[i++])
      written[i] = {end + prev, frame_end[i] - prev};
    if (int err = pwrite_all(fd_, frames_[part].data(), frames_[part].size(), end)) roll_back(err, "pwrite");
    end += frames_[part].size();
  }
  if (sys::fsync(fd_) != 0) roll_back(errno, "fsync");
  size_ = end;
  return written;
}

void EpisodeWriter::roll_back(int err, const char* call) {
  // After a failed fsync the kernel may have dropped the dirty pages: cut the
  // whole batch so a later commit never follows bytes of unknown state.
  if (sys::ftruncate(fd_, off_t(size_)) != 0) broken_ = true;
  throw_sys_error(call, path_, err);
}

}  // namespace tk::episodes
