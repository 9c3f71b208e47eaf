// Durable file primitives (file_io.h): opening store files and directories
// safely, AtomicFile, FileLock.
#include "file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "errors.h"
#include "syscall_seam.h"

namespace tk {

void throw_sys_error(const char* call, const std::string& path, int err) {
  ErrorCode code = ErrorCode::Io;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::NoSpace;
  if (err == ENOENT) code = ErrorCode::NotFound;
  throw Error(code, std::string(call) + " " + path + ": " + std::strerror(err), err);
}

std::string dirname_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int pwrite_all(int fd, const void* data, size_t len, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = sys::pwrite(fd, p, len, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    p += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return 0;
}

void fsync_dir(const std::string& dir) {
  int fd = sys::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw_sys_error("open", dir, errno);
  if (sys::fsync(fd) != 0) {
    int err = errno;
    sys::close(fd);
    throw_sys_error("fsync", dir, err);
  }
  sys::close(fd);
}

void ensure_dir(const std::string& dir) {
  if (sys::mkdir(dir.c_str(), 0755) == 0) return;
  if (errno != EEXIST) throw_sys_error("mkdir", dir, errno);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) throw_sys_error("lstat", dir, errno);
  if (!S_ISDIR(st.st_mode))
    throw Error(ErrorCode::Io, dir + " is " + file_kind(st.st_mode) + ", not a directory", ENOTDIR);
}

const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

FdCloser::~FdCloser() {
  if (fd >= 0) sys::close(fd);
}

namespace {

// After a failed open: when the entry exists and is not what was wanted
// (O_NOFOLLOW's ELOOP on a link, ENXIO on a FIFO without a reader, EISDIR,
// ENOTDIR, ...), say what it is; otherwise the plain system error.
[[noreturn]] void throw_open_error(int dirfd, const std::string& name, const std::string& path, int err, bool want_dir,
                                   ErrorCode wrong_kind) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
    throw Error(wrong_kind, path + " is " + file_kind(st.st_mode) + (want_dir ? ", not a directory" : ", not a regular file"),
                err);
  throw_sys_error("open", path, err);
}

}  // namespace

int open_regular(int dirfd, const std::string& name, const std::string& path, int flags, mode_t mode,
                 ErrorCode not_regular, struct stat* st, bool follow_links) {
  flags |= O_NONBLOCK | (follow_links ? 0 : O_NOFOLLOW);
  FdCloser fd{sys::openat(dirfd, name.c_str(), path.c_str(), flags, mode)};
  if (fd.fd < 0) throw_open_error(dirfd, name, path, errno, false, not_regular);
  if (sys::fstat(fd.fd, st) != 0) throw_sys_error("fstat", path, errno);
  if (!S_ISREG(st->st_mode))
    throw Error(not_regular, path + " is " + file_kind(st->st_mode) + ", not a regular file", EINVAL);
  // Blocking again: O_NONBLOCK only had to keep a FIFO from blocking the open.
  int fl = ::fcntl(fd.fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd.fd, F_SETFL, fl & ~O_NONBLOCK) != 0) throw_sys_error("fcntl", path, errno);
  return fd.release();
}

int open_regular(const std::string& path, int flags, mode_t mode, ErrorCode not_regular, struct stat* st,
                 bool follow_links) {
  if (follow_links) return open_regular(AT_FDCWD, path, path, flags, mode, not_regular, st, true);
  int dir_fd = open_store_dir(dirname_of(path), false);
  int fd = -1;
  try {
    fd = open_regular(dir_fd, basename_of(path), path, flags, mode, not_regular, st, false);
  } catch (...) {
    ::close(dir_fd);
    throw;
  }
  ::close(dir_fd);
  return fd;
}

int open_store_dir(const std::string& dir, bool traced) {
  const std::string parent = dirname_of(dir);
  const std::string name = basename_of(dir);
  int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0) throw_sys_error("open", parent, errno);
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = traced ? sys::openat(parent_fd, name.c_str(), dir.c_str(), flags) : ::openat(parent_fd, name.c_str(), flags);
  if (fd < 0) {
    int err = errno;
    try {
      throw_open_error(parent_fd, name, dir, err, true, ErrorCode::Io);
    } catch (...) {
      ::close(parent_fd);
      throw;
    }
  }
  ::close(parent_fd);
  return fd;
}

int open_dir(const std::string& dir) {
  int fd = sys::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw_sys_error("open", dir, errno);
  return fd;
}

int open_subdir(int dirfd, const std::string& dir, const std::string& name, bool create, bool durable) {
  const std::string path = dir + "/" + name;
  bool made = false;
  if (create) {
    if (sys::mkdirat(dirfd, name.c_str(), path.c_str(), 0755) == 0)
      made = true;
    else if (errno != EEXIST)
      throw_sys_error("mkdir", path, errno);
  }
  int fd = sys::openat(dirfd, name.c_str(), path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT && !create) return -1;
    throw_open_error(dirfd, name, path, errno, true, ErrorCode::Io);
  }
  FdCloser guard{fd};
  if (made && durable && sys::fsync(dirfd) != 0) throw_sys_error("fsync", dir, errno);
  return guard.release();
}

std::vector<std::string> make_dirs(const std::string& path) {
  if (path.empty() || path.find('\0') != std::string::npos)
    throw Error(ErrorCode::BadInput, "makeDirs needs a non-empty path without NUL bytes");
  // The levels of the path, each a prefix of it ("a/b/c": a, a/b, a/b/c).
  std::vector<std::string> levels;
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    std::string level = path.substr(0, end);
    while (level.size() > 1 && level.back() == '/') level.pop_back();
    if (!level.empty() && (levels.empty() || level != levels.back())) levels.push_back(level);
    if (end == std::string::npos) break;
  }
  // The deepest level that exists (stat follows links: existing levels are
  // the caller's); everything below it is made here, one level at a time.
  size_t first_missing = levels.size();
  while (first_missing > 0) {
    struct stat st;
    const std::string& level = levels[first_missing - 1];
    if (::stat(level.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        throw Error(ErrorCode::BadInput, "cannot make " + path + ": " + level + " is " + file_kind(st.st_mode) +
                                             ", not a directory", ENOTDIR);
      break;
    }
    // ENOTDIR: a level above is not a directory; the walk up finds and names it.
    if (errno != ENOENT && errno != ENOTDIR)  // EACCES, ELOOP, ENAMETOOLONG: say so, never loop
      throw Error(ErrorCode::Io, "cannot make " + path + ": stat " + level + ": " + std::strerror(errno), errno);
    first_missing--;
  }
  std::vector<std::string> created;
  for (size_t i = first_missing; i < levels.size(); i++) {
    const std::string& level = levels[i];
    if (sys::mkdir(level.c_str(), 0755) != 0) {
      int err = errno;
      if (err == EEXIST) {  // made meanwhile by someone else: it must be a directory
        struct stat st;
        if (::stat(level.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        throw Error(ErrorCode::BadInput, "cannot make " + path + ": " + level + " exists and is not a directory", err);
      }
      if (err == ENOSPC || err == EDQUOT) throw_sys_error("mkdir", level, err);
      // /proc, /sys, a read-only mount: the file system refuses, and saying
      // so (with the path) is all there is to do.
      throw Error(ErrorCode::Io, "cannot make " + path + ": mkdir " + level + ": " + std::strerror(err), err);
    }
    created.push_back(level);
    fsync_dir(i == 0 ? dirname_of(level) : levels[i - 1]);
  }
  return created;
}

namespace {
std::atomic<uint64_t> g_temp_counter{0};
constexpr uint64_t kWritebackBytes = 8ull << 20;
}  // namespace

AtomicFile::AtomicFile(const std::string& final_path, bool store_dir)
    : final_path_(final_path), final_name_(basename_of(final_path)) {
  const std::string dir = dirname_of(final_path);
  try {
    dir_fd_ = store_dir ? open_store_dir(dir) : open_dir(dir);
    tmp_fd_ = open_subdir(dir_fd_, dir, ".tmp", true, false);
    // pid + counter: concurrent writers and leftovers of a crashed process never
    // collide, and O_EXCL makes sure we never write into someone else's file.
    temp_name_ = final_name_ + "." + std::to_string(::getpid()) + "." + std::to_string(++g_temp_counter) + ".partial";
    temp_path_ = dir + "/.tmp/" + temp_name_;
    fd_ = sys::openat(tmp_fd_, temp_name_.c_str(), temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw_sys_error("open", temp_path_, errno);
  } catch (...) {
    close_all();
    throw;
  }
}

void AtomicFile::close_all() {
  if (tmp_fd_ >= 0) sys::close(tmp_fd_);
  if (dir_fd_ >= 0) sys::close(dir_fd_);
  tmp_fd_ = dir_fd_ = -1;
}

AtomicFile::~AtomicFile() {
  stop_flusher();
  if (fd_ >= 0) sys::close(fd_);
  if (!committed_ && tmp_fd_ >= 0) sys::unlinkat(tmp_fd_, temp_name_.c_str(), temp_path_.c_str(), 0);
  close_all();
}

void AtomicFile::write_at(const void* data, size_t len, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = sys::pwrite(fd_, p, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys_error("pwrite", temp_path_, errno);
    }
    if (n == 0) throw_sys_error("pwrite", temp_path_, EIO);
    p += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  written_end_ = std::max(written_end_, offset);
  if (written_end_ - handed_end_ >= kWritebackBytes) {
    handed_end_ = written_end_;
    std::lock_guard<std::mutex> lock(flush_mu_);
    flush_target_ = handed_end_;
    if (!flusher_.joinable()) flusher_ = std::thread([this] { flusher_loop(); });
    flush_cv_.notify_one();
  }
}

void AtomicFile::flusher_loop() {
  uint64_t done = 0;
  std::unique_lock<std::mutex> lock(flush_mu_);
  for (;;) {
    flush_cv_.wait(lock, [&] { return flush_stop_ || flush_target_ > done; });
    if (flush_target_ <= done) return;  // stopping with nothing left to hand over
    uint64_t target = flush_target_;
    lock.unlock();
    // Only a hint: a failure here surfaces at the fsync in commit().
    sys::start_writeback(fd_, done, target - done);
    done = target;
    lock.lock();
  }
}

void AtomicFile::stop_flusher() {
  if (!flusher_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    flush_stop_ = true;
    flush_cv_.notify_one();
  }
  flusher_.join();
}

void AtomicFile::commit() {
  stop_flusher();
  if (sys::fsync(fd_) != 0) throw_sys_error("fsync", temp_path_, errno);
  int fd = fd_;
  fd_ = -1;
  // After a failed fsync or close the page cache state is unknown: never
  // rename such a file into place (the destructor unlinks it).
  if (sys::close(fd) != 0) throw_sys_error("close", temp_path_, errno);
  // renameat replaces whatever has the final name, a symbolic link
  // included, and never follows it.
  if (sys::renameat(tmp_fd_, temp_name_.c_str(), temp_path_.c_str(), dir_fd_, final_name_.c_str(), final_path_.c_str()) != 0)
    throw_sys_error("rename", final_path_, errno);
  committed_ = true;
  // The rename is visible now but not durable until the directory is synced;
  // a failure here is reported, and the caller must not acknowledge the file.
  if (sys::fsync(dir_fd_) != 0) throw_sys_error("fsync", dirname_of(final_path_), errno);
}

ReadOnlyFile::ReadOnlyFile(const std::string& path, ErrorCode not_regular, bool follow_links) : path_(path) {
  struct stat st;
  // A directory, device or FIFO must not read as a (corrupt) checkpoint, nor
  // block the open: open_regular refuses them by name.
  fd_ = open_regular(path, O_RDONLY, 0, not_regular, &st, follow_links);
  size_ = uint64_t(st.st_size);
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) sys::close(fd_);
}

void ReadOnlyFile::read_exact(void* dst, size_t len, uint64_t offset) const {
  char* p = static_cast<char*>(dst);
  while (len > 0) {
    ssize_t n = sys::pread(fd_, p, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys_error("pread", path_, errno);
    }
    if (n == 0)
      throw Error(ErrorCode::Corrupt, path_ + ": file ends at byte " + std::to_string(offset) + ", " +
                                          std::to_string(len) + " bytes short (truncated while reading?)");
    p += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
}

FileLock::FileLock(const std::string& path) {
  struct stat st;
  fd_ = open_regular(path, O_RDWR | O_CREAT, 0644, ErrorCode::Io, &st);
  if (st.st_nlink > 1) {
    sys::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::Io, path + " has " + std::to_string(st.st_nlink) +
                                   " hard links: a lock file of the store has one, and its bytes are overwritten");
  }
  if (sys::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    char buf[32] = {0};
    ssize_t n = sys::pread(fd_, buf, sizeof(buf) - 1, 0);
    if (n > 0) holder = std::string(buf, size_t(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    sys::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error(ErrorCode::Locked, path + " is held by pid " + (holder.empty() ? "unknown" : holder), err);
    throw_sys_error("flock", path, err);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is advisory (for the E_LOCKED message); the flock is the lock.
  if (sys::ftruncate(fd_, 0) == 0) sys::pwrite(fd_, pid.data(), pid.size(), 0);
}

FileLock::~FileLock() {
  if (fd_ >= 0) sys::close(fd_);  // closing the descriptor drops the flock
}

}  // namespace tk
