// Appending record batches to an episode segment (episode_writer.h): write,
// fsync, roll.
#include "episode_writer.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

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

namespace {
// Raw bytes of records per piece of a batch: a commit writes each piece as
// soon as it and the pieces before it are encoded.
constexpr size_t kPieceBytes = size_t(1) << 20;

// A write that failed while the commit was still encoding: stops the encoding.
struct WriteFailed {
  int err;
};

// The records of the chunks, parsed (checked) before anything is encoded.
std::vector<Record> parse_batch(const std::vector<BatchChunk>& chunks, size_t* len) {
  std::vector<Record> records;
  size_t total = 0;
  for (const BatchChunk& chunk : chunks) total += chunk.count;
  records.reserve(total);
  *len = 0;
  for (const BatchChunk& chunk : chunks) {
    size_t at = 0;
    for (size_t i = 0; i < chunk.count; i++) {
      records.push_back(parse_record(chunk.data + at, chunk.len - at, true, "record " + std::to_string(records.size()) + " of the batch"));
      at += records.back().bytes;
    }
    if (at != chunk.len)
      throw Error(ErrorCode::BadInput, "batch chunk of " + std::to_string(chunk.len) + " bytes holds " + std::to_string(at) +
                                           " bytes of " + std::to_string(chunk.count) + " records");
    *len += chunk.len;
  }
  return records;
}
}  // namespace

void EncodedBatch::encode(const std::vector<Record>& records, size_t len, Codec codec, int level, int max_threads,
                          std::vector<std::unique_ptr<RecordEncoder>>& encoders, const std::function<void(size_t)>& done) {
  const size_t count = records.size();
  const int threads = threads_for(len, max_threads, kMinCodecBytesPerThread);
  const size_t n = std::max<size_t>(1, std::min(count, (len + kPieceBytes - 1) / kPieceBytes));
  while (encoders.size() < size_t(threads)) encoders.push_back(std::make_unique<RecordEncoder>(level));
  if (pieces.size() < n) pieces.resize(n);
  first.resize(n + 1);
  for (size_t k = 0; k <= n; k++) first[k] = count * k / n;
  frame_end.resize(count);
  parallel_for(n, threads, [&](size_t k, int worker) {
    FrameBytes& out = pieces[k];
    out.clear();
    for (size_t i = first[k]; i < first[k + 1]; i++) {
      encoders[size_t(worker)]->encode(records[i], codec, out);
      frame_end[i] = out.size();
    }
    done(k);
  });
}

EncodedBatch encode_ahead(const std::vector<BatchChunk>& chunks, Codec codec, int level) {
  size_t len = 0;
  std::vector<Record> records = parse_batch(chunks, &len);
  std::vector<std::unique_ptr<RecordEncoder>> encoders;
  EncodedBatch batch;
  // One thread: this runs while the JavaScript thread is still appending.
  batch.encode(records, len, codec, level, 1, encoders, [](size_t) {});
  return batch;
}

std::vector<WrittenRecord> EpisodeWriter::commit(const std::vector<std::shared_ptr<const EncodedBatch>>& ahead,
                                                 const std::vector<BatchChunk>& chunks, Codec codec) {
  if (fd_ < 0) throw Error(ErrorCode::Io, "episode writer has no open segment");
  if (broken_)
    throw Error(ErrorCode::Io, path_ + ": a failed commit could not be cut back; continue in a new segment");
  size_t len = 0;
  std::vector<Record> records = parse_batch(chunks, &len);
  std::vector<WrittenRecord> written;
  uint64_t end = size_;
  // Piece k of `b` at the end of the segment; its records' places go to `out`.
  auto write_piece = [&](const EncodedBatch& b, size_t k, uint64_t at, WrittenRecord* out) {
    for (size_t i = b.first[k], prev = 0; i < b.first[k + 1]; prev = b.frame_end[i++]) out[i] = {at + prev, b.frame_end[i] - prev};
    int err = pwrite_all(fd_, b.pieces[k].data(), b.pieces[k].size(), at);
    if (err) throw WriteFailed{err};
    sys::start_writeback(fd_, at, b.pieces[k].size());  // the fsync below waits for less
  };
  try {
    for (const auto& b : ahead) {
      const size_t base = written.size();
      written.resize(base + b->frame_end.size());
      for (size_t k = 0; k + 1 < b->first.size(); k++) {
        const uint64_t at = end;
        end += b->pieces[k].size();
        write_piece(*b, k, at, written.data() + base);
      }
    }
    // The chunks: encoded in pieces on up to two threads; whichever thread
    // finds the next piece encoded writes it (and any encoded after it), the
    // others keep encoding.
    const size_t base = written.size();
    written.resize(base + records.size());
    std::vector<bool> encoded;
    std::mutex mu;
    size_t next_write = 0;
    bool writing = false, write_failed = false;
    frames_.encode(records, len, codec, level_, hardware_threads(), encoders_, [&](size_t piece) {
      std::unique_lock<std::mutex> lock(mu);
      if (encoded.size() < frames_.first.size() - 1) encoded.resize(frames_.first.size() - 1, false);
      encoded[piece] = true;
      if (writing || write_failed) return;  // the thread writing now picks this piece up
      writing = true;
      while (next_write < encoded.size() && encoded[next_write]) {
        const size_t k = next_write++;
        const uint64_t at = end;
        end += frames_.pieces[k].size();
        lock.unlock();
        try {
          write_piece(frames_, k, at, written.data() + base);
        } catch (const WriteFailed&) {
          lock.lock();
          write_failed = true;
          throw;
        }
        lock.lock();
      }
      writing = false;
    });
  } catch (const WriteFailed& f) {
    roll_back(f.err, "pwrite");
  } catch (...) {
    // An encoding failure may follow pieces already written: cut them too.
    if (end != size_ && sys::ftruncate(fd_, off_t(size_)) != 0) broken_ = true;
    throw;
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
