// The framed journal (journal.h): appending records, scanning to the last
// whole one, truncation.
#include "journal.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "codec.h"
#include "endian.h"
#include "errors.h"
#include "file_io.h"
#include "syscall_seam.h"

namespace tk {
namespace {

// Closes a descriptor on the error paths; success paths close it themselves
// so that a failing close is reported.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) sys::close(fd);
  }
};

[[noreturn]] void throw_too_long(size_t len) {
  throw Error(ErrorCode::BadInput, "journal record of " + std::to_string(len) + " bytes exceeds the limit of " +
                                       std::to_string(kJournalMaxPayload));
}

}  // namespace

JournalWriter::JournalWriter(const std::string& path) : path_(path) {
  struct stat st;
  bool created = false;
  int fd;
  try {
    fd = open_regular(path, O_WRONLY | O_APPEND, 0, ErrorCode::Io, &st);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    fd = open_regular(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644, ErrorCode::Io, &st);
    created = true;
  }
  FdGuard guard{fd};
  size_ = uint64_t(st.st_size);
  // A journal just created: make its directory entry durable before any
  // record relies on it. An existing one (emptied by a compaction, say)
  // has a durable entry already: no directory fsync here, on the thread
  // that opens it.
  if (created) fsync_dir(dirname_of(path));
  fd_ = fd;
  guard.fd = -1;
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) sys::close(fd_);
}

void JournalWriter::append(const void* data, size_t len, bool sync) {
  if (len > kJournalMaxPayload) throw_too_long(len);
  const uint32_t length = uint32_t(len);
  append_many(data, &length, 1, sync);
}

void JournalWriter::append_many(const void* data, const uint32_t* lengths, size_t count, bool sync) {
  if (broken_)
    throw Error(ErrorCode::Io, path_ + ": a failed append could not be rolled back; reopen the journal to repair it");
  size_t total = 0;
  for (size_t i = 0; i < count; i++) {
    if (lengths[i] > kJournalMaxPayload) throw_too_long(lengths[i]);
    total += kJournalHeaderBytes + lengths[i];
  }
  std::vector<uint8_t> frames(total);
  const uint8_t* payload = static_cast<const uint8_t*>(data);
  uint8_t* out = frames.data();
  for (size_t i = 0; i < count; i++) {
    const size_t len = lengths[i];
    put_u32(out, uint32_t(len));
    put_u64(out + 4, xxh3_64(payload, len));
    if (len > 0) std::memcpy(out + kJournalHeaderBytes, payload, len);
    out += kJournalHeaderBytes + len;
    payload += len;
  }
  if (total == 0) return;
  if (int err = pwrite_all(fd_, frames.data(), frames.size(), size_)) roll_back(err, "pwrite");
  if (sync && sys::fsync(fd_) != 0) roll_back(errno, "fsync");
  size_ += frames.size();
}

void JournalWriter::roll_back(int err, const char* call) {
  // Cut the partial (or unsynced) frame so the next append starts on a frame
  // boundary; if even that fails, refuse further appends.
  if (sys::ftruncate(fd_, off_t(size_)) != 0) broken_ = true;
  throw_sys_error(call, path_, err);
}

void JournalWriter::sync() {
  // On failure, records appended since the last successful sync may be lost.
  if (sys::fsync(fd_) != 0) throw_sys_error("fsync", path_, errno);
}

JournalScan scan_journal(const std::string& path) {
  JournalScan scan;
  std::vector<uint8_t> bytes;
  try {
    ReadOnlyFile file(path, ErrorCode::Io);
    bytes.resize(file.size());
    file.read_exact(bytes.data(), bytes.size(), 0);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::NotFound) return scan;  // no journal yet
    throw;
  }
  const uint8_t* p = bytes.data();
  const uint64_t end = bytes.size();
  uint64_t off = 0;
  while (off < end) {
    const uint64_t left = end - off;
    const std::string at = " at byte " + std::to_string(off);
    if (left < kJournalHeaderBytes) {
      scan.problem = "torn record" + at + ": " + std::to_string(left) + " of " + std::to_string(kJournalHeaderBytes) +
                     " header bytes";
      break;
    }
    const uint32_t len = get_u32(p + off);
    if (len > kJournalMaxPayload) {
      scan.problem = "record" + at + " claims " + std::to_string(len) + " bytes, over the limit of " +
                     std::to_string(kJournalMaxPayload);
      break;
    }
    const uint64_t frame = kJournalHeaderBytes + len;
    if (left < frame) {
      scan.problem = "torn record" + at + ": " + std::to_string(left) + " of " + std::to_string(frame) + " bytes";
      break;
    }
    const uint8_t* payload = p + off + kJournalHeaderBytes;
    if (xxh3_64(payload, len) != get_u64(p + off + 4)) {
      scan.problem = "record" + at + " fails its checksum";
      break;
    }
    scan.records.emplace_back(reinterpret_cast<const char*>(payload), len);
    scan.offsets.push_back(off);
    off += frame;
  }
  scan.valid_bytes = off;
  scan.file_bytes = end;
  return scan;
}

void truncate_file(const std::string& path, uint64_t len) {
  struct stat st;
  int fd = open_regular(path, O_WRONLY, 0, ErrorCode::Io, &st);
  FdGuard guard{fd};
  const uint64_t size = uint64_t(st.st_size);
  // Growing would append zeros, which a journal would read as a damaged tail.
  if (len > size)
    throw Error(ErrorCode::BadInput, "truncate " + path + " to " + std::to_string(len) + " bytes: the file has only " +
                                         std::to_string(size));
  if (sys::ftruncate(fd, off_t(len)) != 0) throw_sys_error("ftruncate", path, errno);
  if (sys::fsync(fd) != 0) throw_sys_error("fsync", path, errno);
  guard.fd = -1;
  if (sys::close(fd) != 0) throw_sys_error("close", path, errno);
}

}  // namespace tk
