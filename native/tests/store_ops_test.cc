// Store operations through the seam: make_dirs and move_to_quarantine are
// recorded in traces (mkdir, rename, the fsyncs that make them durable),
// fail cleanly under a fault plan on op=mkdir / op=rename, and a crash just
// before the rename leaves the file where it was. clear_tmp_dir works
// relative to .tmp's descriptor (unlinkat, recorded with full paths).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "file_io.h"
#include "store_ops.h"
#include "syscall_seam.h"
#include "test_util.h"

using tk::ErrorCode;
namespace sys = tk::sys;

static std::vector<sys::TraceEntry> traced(const std::function<void()>& fn) {
  sys::FaultPlan plan;
  plan.trace = true;
  sys::set_fault_plan(plan);
  try {
    fn();
  } catch (...) {
    sys::clear_fault_plan();
    throw;
  }
  std::vector<sys::TraceEntry> trace = sys::take_trace();
  sys::clear_fault_plan();
  return trace;
}

static bool has(const std::vector<sys::TraceEntry>& trace, sys::Op op, const std::string& path, const std::string& path2 = "") {
  for (const auto& e : trace)
    if (e.op == op && e.path == path && (path2.empty() || e.path2 == path2)) return true;
  return false;
}

static size_t position(const std::vector<sys::TraceEntry>& trace, sys::Op op, const std::string& path) {
  for (size_t i = 0; i < trace.size(); i++)
    if (trace[i].op == op && trace[i].path == path) return i;
  return size_t(-1);
}

static bool is_dir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_make_dirs() {
  tkt::TempDir dir;
  const std::string a = dir / "a", b = a + "/b", c = b + "/c";
  std::vector<std::string> made;
  auto trace = traced([&] { made = tk::make_dirs(c + "/"); });
  CHECK((made == std::vector<std::string>{a, b, c}));
  CHECK(is_dir(c));
  // Each new level is made through the seam and its parent fsynced after it.
  for (const auto& [level, parent] : {std::pair{a, dir.path()}, {b, a}, {c, b}}) {
    size_t mk = position(trace, sys::Op::Mkdir, level);
    size_t sync = size_t(-1);
    for (size_t i = mk; mk != size_t(-1) && i < trace.size(); i++)
      if (trace[i].op == sys::Op::Fsync && trace[i].path == parent) {
        sync = i;
        break;
      }
    CHECK(mk != size_t(-1) && sync != size_t(-1) && sync > mk);
  }
  // Existing levels: nothing made, no call at all.
  trace = traced([&] { made = tk::make_dirs(c); });
  CHECK(made.empty() && trace.empty());
  // Relative paths, "." and ".." levels.
  CHECK(tk::make_dirs(b + "/../b/d").size() == 1 && is_dir(b + "/d"));

  // An existing symbolic link to a directory is the caller's business: followed.
  tkt::TempDir elsewhere;
  CHECK(::symlink(elsewhere.path().c_str(), (dir / "link").c_str()) == 0);
  made = tk::make_dirs(dir / "link/x/y");
  CHECK(made.size() == 2 && is_dir(elsewhere / "x/y"));

  // A regular file in the way: BadInput naming it, never a loop.
  tkt::write_file(dir / "file", "x");
  CHECK_THROWS_CODE(tk::make_dirs(dir / "file/x/y"), ErrorCode::BadInput, dir / "file is a regular file, not a directory");
  CHECK_THROWS_CODE(tk::make_dirs(dir / "file"), ErrorCode::BadInput, "is a regular file");
  // A FIFO in the way: the same, at once.
  CHECK(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::make_dirs(dir / "fifo/x"), ErrorCode::BadInput, dir / "fifo is a FIFO, not a directory");
  // /proc and /sys refuse the mkdir: Io naming the path.
  CHECK_THROWS_CODE(tk::make_dirs("/proc/self/tensorkeep-x/y"), ErrorCode::Io, "cannot make /proc/self/tensorkeep-x/y");
  if (tkt::exists("/sys/kernel"))
    CHECK_THROWS_CODE(tk::make_dirs("/sys/kernel/tensorkeep-x"), ErrorCode::Io, "mkdir /sys/kernel/tensorkeep-x");
  CHECK_THROWS_CODE(tk::make_dirs(""), ErrorCode::BadInput, "non-empty path");

  // A fault plan on op=mkdir: the second level's mkdir fails with ENOSPC.
  sys::FaultPlan plan;
  std::string err;
  CHECK(sys::parse_fault_plan("op=mkdir,fail_at=2,errno=ENOSPC", &plan, &err));
  sys::set_fault_plan(plan);
  CHECK_THROWS_CODE(tk::make_dirs(dir / "p/q/r"), ErrorCode::NoSpace, "mkdir " + dir / "p/q");
  sys::clear_fault_plan();
  CHECK(is_dir(dir / "p") && !tkt::exists(dir / "p/q"));
  CHECK(tk::make_dirs(dir / "p/q/r").size() == 2);  // a retry finishes the job
  CHECK(sys::parse_fault_plan("op=mkdir,fail_at=1,errno=EACCES", &plan, &err));
  sys::set_fault_plan(plan);
  CHECK_THROWS_CODE(tk::make_dirs(dir / "s"), ErrorCode::Io, "mkdir " + dir / "s" + ": Permission denied");
  sys::clear_fault_plan();
}

static void test_quarantine() {
  tkt::TempDir dir;
  tkt::write_file(dir / "00000001-s1.tkpt", "bad bytes");
  std::string target;
  auto trace = traced([&] { target = tk::move_to_quarantine(dir.path(), "00000001-s1.tkpt"); });
  const std::string q = dir / ".quarantine";
  CHECK(target.rfind(q + "/00000001-s1.tkpt.", 0) == 0);
  CHECK(tkt::read_file(target) == "bad bytes" && !tkt::exists(dir / "00000001-s1.tkpt"));
  // mkdir .quarantine (then its parent fsynced: durable), the rename with
  // both full paths, then both directories fsynced.
  CHECK(has(trace, sys::Op::Mkdir, q));
  CHECK(has(trace, sys::Op::Rename, dir / "00000001-s1.tkpt", target));
  size_t rename_at = position(trace, sys::Op::Rename, dir / "00000001-s1.tkpt");
  size_t fsync_q = size_t(-1), fsync_dir = size_t(-1);
  for (size_t i = rename_at; i < trace.size(); i++) {
    if (trace[i].op == sys::Op::Fsync && trace[i].path == q) fsync_q = i;
    if (trace[i].op == sys::Op::Fsync && trace[i].path == dir.path()) fsync_dir = i;
  }
  CHECK(fsync_q != size_t(-1) && fsync_dir != size_t(-1));
  CHECK(position(trace, sys::Op::Fsync, dir.path()) < rename_at);  // the new .quarantine made durable first

  // The same name again in the same millisecond or later: never replaced.
  std::vector<std::string> targets;
  for (int i = 0; i < 3; i++) {
    tkt::write_file(dir / "x.tkpt", std::to_string(i));
    targets.push_back(tk::move_to_quarantine(dir.path(), "x.tkpt"));
  }
  for (int i = 0; i < 3; i++) CHECK(tkt::read_file(targets[size_t(i)]) == std::to_string(i));

  // A symbolic link is moved as the link; its target is not touched.
  tkt::TempDir outside;
  tkt::write_file(outside / "precious", "keep");
  CHECK(::symlink((outside / "precious").c_str(), (dir / "link.tkpt").c_str()) == 0);
  std::string moved = tk::move_to_quarantine(dir.path(), "link.tkpt");
  struct stat st;
  CHECK(::lstat(moved.c_str(), &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(tkt::read_file(outside / "precious") == "keep" && tkt::list_dir(outside.path()).size() == 1);

  CHECK_THROWS_CODE(tk::move_to_quarantine(dir.path(), "missing.tkpt"), ErrorCode::NotFound, dir / "missing.tkpt");
  for (const char* bad : {"", ".", "..", "a/b", "../x"})
    CHECK_THROWS_CODE(tk::move_to_quarantine(dir.path(), bad), ErrorCode::BadInput, "is not the name of an entry");

  // A fault plan on op=rename: the error names the file, which stays put.
  tkt::write_file(dir / "y.tkpt", "y");
  sys::FaultPlan plan;
  std::string err;
  CHECK(sys::parse_fault_plan("op=rename,fail_at=1,errno=EIO", &plan, &err));
  sys::set_fault_plan(plan);
  CHECK_THROWS_CODE(tk::move_to_quarantine(dir.path(), "y.tkpt"), ErrorCode::Io, "rename " + dir / "y.tkpt");
  sys::clear_fault_plan();
  CHECK(tkt::read_file(dir / "y.tkpt") == "y");
  // ... and on op=mkdir for a model without .quarantine yet.
  tkt::TempDir fresh;
  tkt::write_file(fresh / "z.tkpt", "z");
  CHECK(sys::parse_fault_plan("op=mkdir,fail_at=1,errno=ENOSPC", &plan, &err));
  sys::set_fault_plan(plan);
  CHECK_THROWS_CODE(tk::move_to_quarantine(fresh.path(), "z.tkpt"), ErrorCode::NoSpace, "mkdir " + fresh / ".quarantine");
  sys::clear_fault_plan();
  CHECK(tkt::read_file(fresh / "z.tkpt") == "z" && !tkt::exists(fresh / ".quarantine"));

  // A crash right before the rename: the file is still in place, whole.
  // (Counted on a move into the .quarantine that now exists, as the
  // child's will be.)
  tkt::write_file(fresh / "u.tkpt", "u");
  tk::move_to_quarantine(fresh.path(), "u.tkpt");
  trace = traced([&] {
    tkt::write_file(fresh / "w.tkpt", "w");
    tk::move_to_quarantine(fresh.path(), "w.tkpt");
  });
  uint64_t rename_call = position(trace, sys::Op::Rename, fresh / "w.tkpt") + 1;
  CHECK(rename_call != 0);
  tkt::write_file(fresh / "v.tkpt", "v");
  pid_t child = ::fork();
  if (child == 0) {
    sys::FaultPlan crash;
    crash.crash_at = rename_call;
    sys::set_fault_plan(crash);
    tk::move_to_quarantine(fresh.path(), "v.tkpt");
    ::_exit(0);  // not reached: the seam kills the process first
  }
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CHECK(tkt::read_file(fresh / "v.tkpt") == "v");
}

static void test_quarantine_refuses_a_linked_quarantine() {
  tkt::TempDir dir, outside;
  tkt::write_file(dir / "a.tkpt", "a");
  CHECK(::symlink(outside.path().c_str(), (dir / ".quarantine").c_str()) == 0);
  CHECK_THROWS_CODE(tk::move_to_quarantine(dir.path(), "a.tkpt"), ErrorCode::Io,
                    dir / ".quarantine is a symbolic link, not a directory");
  CHECK(tkt::read_file(dir / "a.tkpt") == "a" && tkt::list_dir(outside.path()).empty());
  ::unlink((dir / ".quarantine").c_str());
  tkt::write_file(dir / ".quarantine", "");
  CHECK_THROWS_CODE(tk::move_to_quarantine(dir.path(), "a.tkpt"), ErrorCode::Io, "is a regular file, not a directory");
}

static void test_clear_tmp_dir_relative() {
  tkt::TempDir dir;
  CHECK(tk::clear_tmp_dir(dir.path()) == 0);  // no .tmp
  tk::ensure_dir(dir / ".tmp");
  tkt::write_file(dir / ".tmp/a.partial", "a");
  CHECK(::mkfifo((dir / ".tmp/fifo").c_str(), 0600) == 0);
  tkt::TempDir outside;
  tkt::write_file(outside / "precious", "keep");
  CHECK(::symlink((outside / "precious").c_str(), (dir / ".tmp/link").c_str()) == 0);
  size_t removed = 0;
  auto trace = traced([&] { removed = tk::clear_tmp_dir(dir.path()); });
  CHECK(removed == 3 && tkt::list_dir(dir / ".tmp").empty());
  CHECK(tkt::read_file(outside / "precious") == "keep");
  CHECK(has(trace, sys::Op::Unlink, dir / ".tmp/a.partial") && has(trace, sys::Op::Unlink, dir / ".tmp/link"));
  CHECK(has(trace, sys::Op::Fsync, dir / ".tmp"));

  // A failing unlinkat is reported with the full path.
  tkt::write_file(dir / ".tmp/b.partial", "b");
  sys::FaultPlan plan;
  std::string err;
  CHECK(sys::parse_fault_plan("op=unlink,fail_at=1,errno=EIO", &plan, &err));
  sys::set_fault_plan(plan);
  CHECK_THROWS_CODE(tk::clear_tmp_dir(dir.path()), ErrorCode::Io, "unlink " + dir / ".tmp/b.partial");
  sys::clear_fault_plan();
  CHECK(tkt::exists(dir / ".tmp/b.partial"));
}

static void test_ensure_dir_refuses_links() {
  tkt::TempDir dir, outside;
  tk::ensure_dir(dir / "d");
  tk::ensure_dir(dir / "d");  // existing directory: fine
  CHECK(::symlink(outside.path().c_str(), (dir / "l").c_str()) == 0);
  CHECK_THROWS_CODE(tk::ensure_dir(dir / "l"), ErrorCode::Io, dir / "l is a symbolic link, not a directory");
  tkt::write_file(dir / "f", "");
  CHECK_THROWS_CODE(tk::ensure_dir(dir / "f"), ErrorCode::Io, dir / "f is a regular file, not a directory");
}

static void test_read_store_file() {
  tkt::TempDir dir, outside;
  tkt::write_file(dir / "catalog.json", "{\"version\":1}");
  CHECK(tk::read_store_file(dir / "catalog.json") == "{\"version\":1}");
  tkt::write_file(dir / "empty", "");
  CHECK(tk::read_store_file(dir / "empty").empty());
  CHECK_THROWS_CODE(tk::read_store_file(dir / "missing.json"), ErrorCode::NotFound, dir / "missing.json");
  CHECK(::mkfifo((dir / "fifo.json").c_str(), 0600) == 0);
  CHECK_THROWS_CODE(tk::read_store_file(dir / "fifo.json"), ErrorCode::Io, dir / "fifo.json is a FIFO, not a regular file");
  tkt::write_file(outside / "other.json", "{}");
  CHECK(::symlink((outside / "other.json").c_str(), (dir / "link.json").c_str()) == 0);
  CHECK_THROWS_CODE(tk::read_store_file(dir / "link.json"), ErrorCode::Io, "is a symbolic link, not a regular file");
  CHECK_THROWS_CODE(tk::read_store_file(dir.path()), ErrorCode::Io, "is a directory, not a regular file");
}

int main() {
  ::alarm(60);  // a hang fails the test instead of stalling the run
  return tkt::run("store_ops_test", {test_make_dirs, test_quarantine, test_quarantine_refuses_a_linked_quarantine,
                                     test_clear_tmp_dir_relative, test_ensure_dir_refuses_links, test_read_store_file});
}
