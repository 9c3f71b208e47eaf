// Durable file primitives: the commit protocol of DESIGN.md §5 at the level
// of one file. Every system call goes through syscall_seam.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace tk {

// Throws tk::Error for a failed system call: ENOSPC/EDQUOT -> NoSpace,
// ENOENT -> NotFound, anything else -> Io; the message names the call,
// the path and strerror.
[[noreturn]] void throw_sys_error(const char* call, const std::string& path, int err);

std::string dirname_of(const std::string& path);
std::string basename_of(const std::string& path);

// Writes all len bytes at offset, continuing short writes (a disk filling up
// reports its real errno on the next call). Returns 0, or the errno of the
// failed call (EIO for a write of 0 bytes).
int pwrite_all(int fd, const void* data, size_t len, uint64_t offset);

// fsync a directory so that entries created/renamed/removed in it survive a
// power cut.
void fsync_dir(const std::string& dir);

// Creates the directory if it does not exist (one level).
void ensure_dir(const std::string& dir);

// Writes a new file that becomes visible under its final name only once it is
// complete and on stable storage: O_EXCL temp file in <dir>/.tmp/, pwrite,
// fsync(file), rename, fsync(dir). Destroying an uncommitted AtomicFile
// removes the temp file, so a failed write leaves nothing behind.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Writes are handed to the disk as they accumulate (every kWritebackBytes)
  // instead of all at the final fsync, so disk time overlaps compression.
  void write_at(const void* data, size_t len, uint64_t offset);
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string final_path_;
  std::string temp_path_;
  // Starting writeback can block while the device queue is full, so it runs
  // on its own thread: the writing thread keeps feeding the page cache and
  // the encoders keep compressing while the disk works.
  void flusher_loop();
  void stop_flusher();

  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_end_ = 0;  // highest byte written so far
  uint64_t handed_end_ = 0;   // handed to the flusher up to here
  std::thread flusher_;
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  uint64_t flush_target_ = 0;  // the flusher starts writeback up to here
  bool flush_stop_ = false;
};

// A file opened for positional reads.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::string& path);
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly len bytes at offset; a short read means the file shrank
  // under us and is reported as Corrupt.
  void read_exact(void* dst, size_t len, uint64_t offset) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// An exclusive, non-blocking flock on a lock file that records the holder's
// pid. Throws Error(Locked, "... held by pid N") when another process holds it.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace tk
