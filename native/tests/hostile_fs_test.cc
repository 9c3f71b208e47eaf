// Hostile entries in a model directory: symbolic links, FIFOs, sockets,
// devices and hard links in place of the files and directories the store
// writes. Each is an error at once (never a hang: alarm() below fails a
// blocked open), names the path and what it is, and touches nothing outside
// the store. Codes: E_CORRUPT for a checkpoint or segment (a load falls back
// and the store quarantines it), E_IO for store infrastructure (LOCK,
// journal, .tmp, .quarantine).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "episode_reader.h"
#include "episode_writer.h"
#include "file_io.h"
#include "journal.h"
#include "reader.h"
#include "store_ops.h"
#include "test_util.h"
#include "writer.h"

using tk::ErrorCode;
using Bytes = std::vector<uint8_t>;

static bool is_link(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// A bound unix socket at `path` (closed at once; the socket file stays).
static void make_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  CHECK(fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  ::close(fd);
}

static void test_lock_file() {
  tkt::TempDir dir, outside;
  const std::string lock = dir / "LOCK", target = outside / "victim";
  tkt::write_file(target, "precious bytes");
  // A symbolic link to a file: never followed, the file keeps its bytes.
  CHECK(::symlink(target.c_str(), lock.c_str()) == 0);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, lock + " is a symbolic link, not a regular file");
  CHECK(tkt::read_file(target) == "precious bytes");
  // A dangling link: its target is not created.
  ::unlink(lock.c_str());
  CHECK(::symlink((outside / "created").c_str(), lock.c_str()) == 0);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, "is a symbolic link");
  CHECK(!tkt::exists(outside / "created"));
  // A FIFO: an error at once, not an open that waits for a writer.
  ::unlink(lock.c_str());
  CHECK(::mkfifo(lock.c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, lock + " is a FIFO, not a regular file");
  // A hard link to another file: its bytes would be overwritten with a pid.
  ::unlink(lock.c_str());
  CHECK(::link(target.c_str(), lock.c_str()) == 0);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, "has 2 hard links");
  CHECK(tkt::read_file(target) == "precious bytes");
  ::unlink(lock.c_str());
  make_socket(lock);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, lock + " is a socket, not a regular file");
  ::unlink(lock.c_str());
  CHECK(::mkdir(lock.c_str(), 0755) == 0);
  CHECK_THROWS_CODE(tk::FileLock{lock}, ErrorCode::Io, lock + " is a directory, not a regular file");
  ::rmdir(lock.c_str());
  { tk::FileLock ok(lock); }  // and a plain LOCK still works
  CHECK(!is_link(lock));
}

static void test_journal() {
  tkt::TempDir dir, outside;
  const std::string journal = dir / "journal", target = outside / "victim";
  tkt::write_file(target, "precious");
  CHECK(::symlink(target.c_str(), journal.c_str()) == 0);
  CHECK_THROWS_CODE(tk::JournalWriter{journal}, ErrorCode::Io, journal + " is a symbolic link, not a regular file");
  CHECK_THROWS_CODE(tk::scan_journal(journal), ErrorCode::Io, "is a symbolic link");
  CHECK_THROWS_CODE(tk::truncate_file(journal, 0), ErrorCode::Io, "is a symbolic link");
  CHECK(tkt::read_file(target) == "precious");
  ::unlink(journal.c_str());
  CHECK(::mkfifo(journal.c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::JournalWriter{journal}, ErrorCode::Io, journal + " is a FIFO, not a regular file");
  CHECK_THROWS_CODE(tk::scan_journal(journal), ErrorCode::Io, journal + " is a FIFO");
  CHECK_THROWS_CODE(tk::truncate_file(journal, 0), ErrorCode::Io, journal + " is a FIFO");
  // A dangling link is not created through.
  ::unlink(journal.c_str());
  CHECK(::symlink((outside / "new").c_str(), journal.c_str()) == 0);
  CHECK_THROWS_CODE(tk::JournalWriter{journal}, ErrorCode::Io, "is a symbolic link");
  CHECK(!tkt::exists(outside / "new"));
}

static void test_checkpoint_reads() {
  tkt::TempDir dir, outside;
  Bytes data = tkt::random_bytes(64, 3);
  tk::write_checkpoint(outside / "real.tkpt", {{"t", tk::Dtype::U8, {64}, data.data(), 64}}, "{}", {});
  const std::string path = dir / "00000001-s1.tkpt";
  // A link to a valid checkpoint is still refused: the store reads its own files only.
  CHECK(::symlink((outside / "real.tkpt").c_str(), path.c_str()) == 0);
  CHECK_THROWS_CODE(tk::CheckpointReader{path}, ErrorCode::Corrupt, path + " is a symbolic link, not a regular file");
  // The low-level API may follow a link its caller made, to a regular file only.
  CHECK(tk::CheckpointReader(path, true).tensors().size() == 1);
  CHECK(::mkfifo((outside / "fifo").c_str(), 0600) == 0);
  CHECK(::symlink((outside / "fifo").c_str(), (dir / "to-fifo.tkpt").c_str()) == 0);
  CHECK_THROWS_CODE(tk::CheckpointReader(dir / "to-fifo.tkpt", true), ErrorCode::Corrupt, "is a FIFO, not a regular file");
  ::unlink(path.c_str());
  CHECK(::mkfifo(path.c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::CheckpointReader{path}, ErrorCode::Corrupt, path + " is a FIFO, not a regular file");
  ::unlink(path.c_str());
  make_socket(path);
  CHECK_THROWS_CODE(tk::CheckpointReader{path}, ErrorCode::Corrupt, path + " is a socket, not a regular file");
  CHECK_THROWS_CODE(tk::CheckpointReader{"/dev/null"}, ErrorCode::Corrupt, "/dev/null is a character device, not a regular file");
  CHECK_THROWS_CODE(tk::CheckpointReader{"/dev/zero"}, ErrorCode::Corrupt, "is a character device");
}

static void test_atomic_writes() {
  tkt::TempDir dir, outside;
  tkt::write_file(outside / "precious", "keep");
  // .tmp a link to another directory: the write refuses, nothing lands there.
  CHECK(::symlink(outside.path().c_str(), (dir / ".tmp").c_str()) == 0);
  CHECK_THROWS_CODE(tk::write_file_atomic(dir / "catalog.json", "{}", 2), ErrorCode::Io,
                    dir / ".tmp is a symbolic link, not a directory");
  Bytes data(16);
  CHECK_THROWS_CODE(tk::write_checkpoint(dir / "c.tkpt", {{"t", tk::Dtype::U8, {16}, data.data(), 16}}, "{}", {}),
                    ErrorCode::Io, "is a symbolic link, not a directory");
  CHECK_THROWS_CODE(tk::clear_tmp_dir(dir.path()), ErrorCode::Io, dir / ".tmp is a symbolic link, not a directory");
  CHECK(tkt::list_dir(outside.path()) == std::vector<std::string>{"precious"} && tkt::read_file(outside / "precious") == "keep");
  CHECK(!tkt::exists(dir / "catalog.json") && !tkt::exists(dir / "c.tkpt"));
  // .tmp a regular file or a FIFO: the same kind of error.
  ::unlink((dir / ".tmp").c_str());
  CHECK(::mkfifo((dir / ".tmp").c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::write_file_atomic(dir / "catalog.json", "{}", 2), ErrorCode::Io, dir / ".tmp is a FIFO, not a directory");
  CHECK_THROWS_CODE(tk::clear_tmp_dir(dir.path()), ErrorCode::Io, "is a FIFO, not a directory");
  ::unlink((dir / ".tmp").c_str());

  // catalog.json a link: the atomic replace renames over the link itself,
  // the link's target keeps its bytes.
  CHECK(::symlink((outside / "precious").c_str(), (dir / "catalog.json").c_str()) == 0);
  tk::write_file_atomic(dir / "catalog.json", "{\"v\":1}", 7);
  CHECK(!is_link(dir / "catalog.json") && tkt::read_file(dir / "catalog.json") == "{\"v\":1}");
  CHECK(tkt::read_file(outside / "precious") == "keep");
  // remove_file removes a link, not what it names.
  CHECK(::symlink((outside / "precious").c_str(), (dir / "old.tkpt").c_str()) == 0);
  tk::remove_file(dir / "old.tkpt");
  CHECK(!tkt::exists(dir / "old.tkpt") && tkt::read_file(outside / "precious") == "keep");
}

static void test_episode_segments() {
  tkt::TempDir dir, outside;
  const std::string seg = dir / "00000001.tkeps";
  tkt::write_file(outside / "victim", "precious");
  CHECK(::symlink((outside / "victim").c_str(), seg.c_str()) == 0);
  tk::episodes::SegmentHeader header{1, 1, 0};
  CHECK_THROWS_CODE(tk::episodes::EpisodeWriter::create_segment(seg, header), ErrorCode::Corrupt,
                    seg + " is a symbolic link, not a regular file");
  CHECK(tkt::read_file(outside / "victim") == "precious");  // O_TRUNC never reached it
  CHECK_THROWS_CODE(tk::episodes::EpisodeWriter(seg, 64, 1), ErrorCode::Corrupt, "is a symbolic link");
  CHECK_THROWS_CODE(tk::episodes::scan_segment(seg), ErrorCode::Corrupt, "is a symbolic link");
  ::unlink(seg.c_str());
  CHECK(::mkfifo(seg.c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::episodes::EpisodeWriter::create_segment(seg, header), ErrorCode::Corrupt, seg + " is a FIFO");
  CHECK_THROWS_CODE(tk::episodes::EpisodeWriter(seg, 64, 1), ErrorCode::Corrupt, seg + " is a FIFO");
  CHECK_THROWS_CODE(tk::episodes::scan_segment(seg), ErrorCode::Corrupt, seg + " is a FIFO");
  CHECK_THROWS_CODE(tk::episodes::read_range(seg, 64, 100), ErrorCode::Corrupt, seg + " is a FIFO");
  ::unlink(seg.c_str());
  tk::episodes::EpisodeWriter::create_segment(seg, header);  // a plain segment still works
  CHECK(tk::episodes::scan_segment(seg).header_ok);
}

// A model directory swapped for a link to another directory (even while the
// store runs): every store operation opens the directory itself without
// following it, so nothing is written, read or removed in the other one; a
// file the caller names may still be written through a link of its own.
static void test_model_directory_link() {
  tkt::TempDir root, outside;
  tkt::write_file(outside / "00000001-s1.tkpt", "precious");
  tkt::write_file(outside / "journal", "precious");
  CHECK(::symlink(outside.path().c_str(), (root / "m").c_str()) == 0);
  const std::string m = root / "m";
  const std::string says = m + " is a symbolic link, not a directory";
  std::vector<uint8_t> data(16, 1);
  std::vector<tk::TensorSource> tensors{{"w", tk::Dtype::U8, {16}, data.data(), data.size()}};
  CHECK_THROWS_CODE(tk::write_checkpoint(m + "/00000002-s2.tkpt", tensors, "{}", tk::WriteOptions{}, true), ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::write_file_atomic(m + "/catalog.json", "{}", 2), ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::remove_file(m + "/00000001-s1.tkpt"), ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::clear_tmp_dir(m), ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::move_to_quarantine(m, "00000001-s1.tkpt"), ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::JournalWriter{m + "/journal"}, ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::FileLock{m + "/LOCK"}, ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::ReadOnlyFile{m + "/00000001-s1.tkpt"}, ErrorCode::Io, says);
  CHECK_THROWS_CODE(tk::read_store_file(m + "/journal"), ErrorCode::Io, says);
  std::vector<std::string> left = tkt::list_dir(outside.path());
  std::sort(left.begin(), left.end());
  CHECK((left == std::vector<std::string>{"00000001-s1.tkpt", "journal"}));
  CHECK(tkt::read_file(outside / "00000001-s1.tkpt") == "precious" && tkt::read_file(outside / "journal") == "precious");
  // The caller's own path: its directory may be a link.
  tk::write_checkpoint(m + "/mine.tkpt", tensors, "{}", tk::WriteOptions{});
  CHECK(tkt::exists(outside / "mine.tkpt"));
}

int main() {
  ::alarm(60);  // a blocked open fails the test (SIGALRM) instead of stalling the run
  return tkt::run("hostile_fs_test", {test_lock_file, test_journal, test_checkpoint_reads, test_atomic_writes,
                                      test_episode_segments, test_model_directory_link});
}
