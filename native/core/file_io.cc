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
  if (sys::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_sys_error("mkdir", dir, errno);
}

namespace {
std::atomic<uint64_t> g_temp_counter{0};
constexpr uint64_t kWritebackBytes = 8ull << 20;
}  // namespace

AtomicFile::AtomicFile(const std::string& final_path) : final_path_(final_path) {
  std::string tmp_dir = dirname_of(final_path) + "/.tmp";
  ensure_dir(tmp_dir);
  // pid + counter: concurrent writers and leftovers of a crashed process never
  // collide, and O_EXCL makes sure we never write into someone else's file.
  temp_path_ = tmp_dir + "/" + basename_of(final_path) + "." + std::to_string(::getpid()) + "." +
               std::to_string(++g_temp_counter) + ".partial";
  fd_ = sys::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd_ < 0) throw_sys_error("open", temp_path_, errno);
}

AtomicFile::~AtomicFile() {
  stop_flusher();
  if (fd_ >= 0) sys::close(fd_);
  if (!committed_) sys::unlink(temp_path_.c_str());
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
  if (sys::rename(temp_path_.c_str(), final_path_.c_str()) != 0) throw_sys_error("rename", final_path_, errno);
  committed_ = true;
  // The rename is visible now but not durable until the directory is synced;
  // a failure here is reported, and the caller must not acknowledge the file.
  fsync_dir(dirname_of(final_path_));
}

ReadOnlyFile::ReadOnlyFile(const std::string& path) : path_(path) {
  fd_ = sys::open(path.c_str(), O_RDONLY);
  if (fd_ < 0) throw_sys_error("open", path, errno);
  mode_t mode = 0;
  int rc = sys::fstat_size(fd_, &size_, &mode);
  int err = errno;
  if (rc != 0 || !S_ISREG(mode)) {
    sys::close(fd_);
    fd_ = -1;
    if (rc != 0) throw_sys_error("fstat", path, err);
    // A directory or device must not read as a (corrupt) checkpoint.
    throw Error(ErrorCode::Io, path + (S_ISDIR(mode) ? ": is a directory" : ": is not a regular file"), EISDIR);
  }
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
  fd_ = sys::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd_ < 0) throw_sys_error("open", path, errno);
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
