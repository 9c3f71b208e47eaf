#include "store_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


#include <cerrno>
#include <cstring>
#include <vector>

#include "errors.h"
#include "file_io.h"
#include "syscall_seam.h"

namespace tk {

void write_file_atomic(const std::string& path, const void* data, size_t len) {
  AtomicFile file(path);
  file.write_at(data, len, 0);
  file.commit();
}

void remove_file(const std::string& path) {
  if (sys::unlink(path.c_str()) != 0 && errno != ENOENT) throw_sys_error("unlink", path, errno);
  fsync_dir(dirname_of(path));
}

size_t clear_tmp_dir(const std::string& dir) {
  FdCloser dir_fd{open_dir(dir)};
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

}  // namespace tk
