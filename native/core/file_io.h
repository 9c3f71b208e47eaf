// Durable file primitives: the commit protocol (docs/FORMAT.md, "How a file
// is committed") at the level of one file. Every system call goes through
// syscall_seam.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

#include "errors.h"

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

// Creates the directory if it does not exist (one level). An existing entry
// must be a directory itself: a symbolic link, even to a directory, or any
// other kind of file is Error(Io) naming what it is.
void ensure_dir(const std::string& dir);

// What a st_mode names, for messages: "a regular file", "a directory",
// "a symbolic link", "a FIFO", "a socket", "a character device", ...
const char* file_kind(mode_t mode);

// Opens a file that must be a regular file, for the store's own files: with
// O_NOFOLLOW (a symbolic link in its place is never followed, nor created
// through when dangling) and O_NONBLOCK (a FIFO cannot block the open; the
// flag is cleared again before returning), then fstat. Anything but a
// regular file is Error(not_regular) "<path> is a FIFO, not a regular file":
// Corrupt for a checkpoint or segment (a reader falls back, the store
// quarantines it), Io for store infrastructure (LOCK, journal). Opens
// relative to dirfd (AT_FDCWD: `path` itself); `name` is the entry in dirfd,
// `path` what the trace and the errors name. *st receives the fstat.
// `follow_links` drops O_NOFOLLOW, for a path the caller chose (the
// low-level reader's): a link to a regular file is then read, a link to
// anything else still refused.
// The path form of a store file (!follow_links) opens it relative to its
// directory, itself opened with open_store_dir: a link swapped in for the
// directory cannot lead the open outside the store.
int open_regular(int dirfd, const std::string& name, const std::string& path, int flags, mode_t mode,
                 ErrorCode not_regular, struct stat* st, bool follow_links = false);
int open_regular(const std::string& path, int flags, mode_t mode, ErrorCode not_regular, struct stat* st,
                 bool follow_links = false);

// Opens a directory named by the caller (the store root, the directory of
// a file the caller writes): symbolic links in its path are the caller's
// business.
int open_dir(const std::string& dir);
// Opens a directory the store made (a model directory, an episode stream):
// its parent as the caller named it, the directory itself never through a
// symbolic link. A link, or anything but a directory, in its place (even one
// swapped in while the store runs) is Error(Io) naming what it is, so no
// store operation is led outside the store. Only the last open goes through
// the seam (opening the parent read-only changes nothing on disk).
// `traced` false bypasses the seam for that one too, for the directory of a
// file opened by path, whose own open is the call the seam counts.
int open_store_dir(const std::string& dir, bool traced = true);
// Opens (creating it first when `create`) the directory `name` inside the
// one open as dirfd, never following a symbolic link: anything but a real
// directory there is Error(Io) naming what it is. With `create`, a
// directory this call made is made durable (dirfd fsynced) when `durable`.
// Returns -1 only when !create and it does not exist.
int open_subdir(int dirfd, const std::string& dir, const std::string& name, bool create, bool durable);
// A directory descriptor closed on scope exit (through the seam).
struct FdCloser {
  int fd = -1;
  ~FdCloser();
  int release() { int f = fd; fd = -1; return f; }
};

// Creates every missing level of `path` (mkdir through the seam, mode 0755)
// and fsyncs the parent of each level it created, so a power cut cannot
// take a new directory away. Existing levels are followed wherever they
// lead (the caller's path); the levels made here are real directories. A
// level that exists and is not a directory is Error(BadInput) naming it; a
// mkdir the file system refuses (/proc, /sys, read-only) is Error(Io).
// Returns the levels created, outermost first.
std::vector<std::string> make_dirs(const std::string& path);

// Writes a new file that becomes visible under its final name only once it is
// complete and on stable storage: O_EXCL temp file in <dir>/.tmp/, pwrite,
// fsync(file), rename, fsync(dir). Destroying an uncommitted AtomicFile
// removes the temp file, so a failed write leaves nothing behind.
class AtomicFile {
 public:
  // A store file (store_dir) is written into a directory opened with
  // open_store_dir; a file the caller names, into its directory wherever
  // that leads.
  explicit AtomicFile(const std::string& final_path, bool store_dir = false);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Writes are handed to the disk as they accumulate (every kWritebackBytes)
  // instead of all at the final fsync, so disk time overlaps compression.
  void write_at(const void* data, size_t len, uint64_t offset);
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  void close_all();

  std::string final_path_;
  std::string final_name_;
  std::string temp_path_;
  std::string temp_name_;
  // The file's directory and its .tmp/, opened once: the temporary file is
  // created, renamed and removed relative to them, so a .tmp that is a
  // symbolic link (or replaced by one meanwhile) never sends a write
  // outside the store.
  int dir_fd_ = -1;
  int tmp_fd_ = -1;
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
  // Anything but a regular file at `path` (a symbolic link, FIFO, device,
  // directory, ...) is Error(not_regular); see open_regular.
  explicit ReadOnlyFile(const std::string& path, ErrorCode not_regular = ErrorCode::Corrupt, bool follow_links = false);
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
// The lock file is the store's own: a symbolic link, a FIFO or any other
// non-regular file in its place, or a regular file with other hard links
// (whose bytes the pid would overwrite), is Error(Io), never followed.
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
