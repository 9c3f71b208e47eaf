// Directory-level operations of a model directory (store_ops.h).
#include "store_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <cerrno>
#include <cstring>
#include <vector>

#include "errors.h"
#include "file_io.h"
#include "syscall_seam.h"

namespace tk {

void write_file_atomic(const std::string& path, const void* data, size_t len) {
  write_file_atomic(path, std::vector<Piece>{{data, len}});
}

void write_file_atomic(const std::string& path, const std::vector<Piece>& pieces) {
  AtomicFile file(path, true);
  uint64_t offset = 0;
  for (const Piece& p : pieces) {
    file.write_at(p.data, p.len, offset);
    offset += p.len;
  }
  file.commit();
}

void remove_file(const std::string& path) {
  const std::string dir = dirname_of(path);
  FdCloser dir_fd{open_store_dir(dir)};
  if (sys::unlinkat(dir_fd.fd, basename_of(path).c_str(), path.c_str(), 0) != 0 && errno != ENOENT)
    throw_sys_error("unlink", path, errno);
  if (sys::fsync(dir_fd.fd) != 0) throw_sys_error("fsync", dir, errno);
}

size_t clear_tmp_dir(const std::string& dir) {
  FdCloser dir_fd{open_store_dir(dir)};
  FdCloser tmp_fd{open_subdir(dir_fd.fd, dir, ".tmp", false, false)};
  if (tmp_fd.fd < 0) return 0;  // no .tmp: nothing was ever left there
  const std::string tmp = dir + "/.tmp";
  // Listing does not change the disk, so it may bypass the seam; the
  // unlinks and the fsync do not. The listing reads a duplicate of the
  // descriptor: the names are those of the directory we opened.
  std::vector<std::string> names;
  int list_fd = ::fcntl(tmp_fd.fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = list_fd < 0 ? nullptr : ::fdopendir(list_fd);
  if (!d) {
    int err = errno;
    if (list_fd >= 0) ::close(list_fd);
    throw_sys_error("opendir", tmp, err);
  }
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    errno = 0;
  }
  const int read_err = errno;
  ::closedir(d);
  if (read_err != 0) throw_sys_error("readdir", tmp, read_err);

  size_t removed = 0;
  for (const std::string& name : names) {
    const std::string path = tmp + "/" + name;
    // unlinkat removes a symbolic link itself, never what it points at.
    if (sys::unlinkat(tmp_fd.fd, name.c_str(), path.c_str(), 0) == 0)
      removed++;
    else if (errno != ENOENT)
      throw_sys_error("unlink", path, errno);
  }
  if (removed > 0 && sys::fsync(tmp_fd.fd) != 0) throw_sys_error("fsync", tmp, errno);
  return removed;
}

std::string read_store_file(const std::string& path) {
  ReadOnlyFile file(path, ErrorCode::Io);
  std::string bytes(size_t(file.size()), '\0');
  file.read_exact(bytes.data(), bytes.size(), 0);
  return bytes;
}

std::string move_to_quarantine(const std::string& dir, const std::string& file) {
  if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
      file.find('\0') != std::string::npos)
    throw Error(ErrorCode::BadInput, "quarantine: \"" + file + "\" is not the name of an entry of " + dir);
  FdCloser dir_fd{open_store_dir(dir)};
  struct stat st;
  if (::fstatat(dir_fd.fd, file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_sys_error("quarantine", dir + "/" + file, errno);
  const std::string qdir = dir + "/.quarantine";
  FdCloser q_fd{open_subdir(dir_fd.fd, dir, ".quarantine", true, true)};
  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
  std::string target = file + "." + std::to_string(ms);
  // We hold the model's LOCK: nobody else names entries of .quarantine
  // between this check and the rename. The bound only guards a directory
  // that answers "exists" to everything.
  for (int n = 2; ::fstatat(q_fd.fd, target.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0; n++) {
    if (n > 1000) throw Error(ErrorCode::Io, "quarantine: no free name for " + file + " in " + qdir);
    target = file + "." + std::to_string(ms) + "-" + std::to_string(n);
  }
  const std::string from = dir + "/" + file, to = qdir + "/" + target;
  if (sys::renameat(dir_fd.fd, file.c_str(), from.c_str(), q_fd.fd, target.c_str(), to.c_str()) != 0)
    throw_sys_error("rename", from, errno);
  // Both directories changed: the new entry and the removed one.
  if (sys::fsync(q_fd.fd) != 0) throw_sys_error("fsync", qdir, errno);
  if (sys::fsync(dir_fd.fd) != 0) throw_sys_error("fsync", dir, errno);
  return to;
}

}  // namespace tk
