#include "store_ops.h"

#include <dirent.h>

#include <cerrno>
#include <cstring>
#include <vector>

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
  const std::string tmp = dir + "/.tmp";
  // Listing does not change the disk, so it may bypass the seam; the
  // unlinks and the fsync do not.
  std::vector<std::string> names;
  DIR* d = ::opendir(tmp.c_str());
  if (!d) {
    if (errno == ENOENT) return 0;
    throw_sys_error("opendir", tmp, errno);
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
    if (sys::unlink(path.c_str()) == 0)
      removed++;
    else if (errno != ENOENT)
      throw_sys_error("unlink", path, errno);
  }
  if (removed > 0) fsync_dir(tmp);
  return removed;
}

}  // namespace tk
