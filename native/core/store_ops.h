// Directory-level operations of a model directory (docs/ARCHITECTURE.md, "On disk"):
// atomic replacement of a small file (catalog.json), durable removal, and
// emptying .tmp/ at open. Each opens the directory with open_store_dir (a
// link in its place leads nowhere). Every system call that changes the disk goes
// through syscall_seam; ensure_dir, make_dirs, fsync_dir and FileLock are in
// file_io.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace tk {

// Replaces (or creates) `path` with exactly these bytes via AtomicFile: the
// old content or the new, never a mix, and durable on return.
void write_file_atomic(const std::string& path, const void* data, size_t len);

// The same with the file's bytes given in pieces, written end to end (a
// large catalog.json serialized a slice at a time needs no concatenation).
struct Piece {
  const void* data;
  size_t len;
};
void write_file_atomic(const std::string& path, const std::vector<Piece>& pieces);

// Unlinks `path` and fsyncs its directory. A missing file is not an error
// (an eviction repeated after a crash), and the directory is still synced,
// since the crash may have come between the unlink and that fsync.
void remove_file(const std::string& path);

// Unlinks every entry of <dir>/.tmp/ (leftovers of interrupted writes) and
// fsyncs .tmp when anything was removed. Returns how many were removed; a
// missing .tmp is 0.
// .tmp is opened with O_NOFOLLOW and emptied with unlinkat relative to it:
// a .tmp that is a symbolic link (or anything but a directory) is
// Error(Io) naming what it is, and nothing outside the store is touched.
size_t clear_tmp_dir(const std::string& dir);

// Reads a whole small store file (catalog.json, an episode index) that must
// be a regular file: opened like every store file (O_NOFOLLOW | O_NONBLOCK,
// then fstat), so a FIFO or symbolic link in its place is Error(Io) at once
// rather than a read that blocks the caller forever or follows the link.
// A missing file is Error(NotFound).
std::string read_store_file(const std::string& path);

// Moves the entry `file` of `dir` (a plain name: no '/') into
// <dir>/.quarantine/ (made, durably, when missing; never followed when it is
// a symbolic link: Error(Io)) under a name no other entry there has,
// "<file>.<ms since epoch>" (a "-2", "-3", ... suffix when taken), then
// fsyncs .quarantine and `dir`. The entry itself is moved, whatever it is
// (a symbolic link stays a link and its target is untouched). Returns the
// new path. A missing file is Error(NotFound).
std::string move_to_quarantine(const std::string& dir, const std::string& file);

}  // namespace tk
