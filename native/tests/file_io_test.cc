// core/file_io through the syscall seam: a failure injected at every system
// call of one checkpoint write leaves nothing behind (or, past the rename, a
// complete file); the trace holds enough to rebuild the file; FileLock
// conflicts name the holder; fault plan grammar; error mapping and path helpers.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "file_io.h"
#include "reader.h"
#include "syscall_seam.h"
#include "test_util.h"
#include "writer.h"

using tk::ErrorCode;
namespace sys = tk::sys;
using Bytes = std::vector<uint8_t>;

static const Bytes kWeights = tkt::compressible_bytes(10000), kNoise = tkt::random_bytes(5000, 9);

// A small multi-chunk checkpoint, written on one thread so the sequence of
// system calls is the same on every run.
static void write_small(const std::string& path) {
  tk::WriteOptions opt;
  opt.chunk_bytes = 4096;
  opt.threads = 1;
  tk::write_checkpoint(path,
                       {{"w", tk::Dtype::F32, {2500}, kWeights.data(), kWeights.size()},
                        {"n", tk::Dtype::U8, {5000}, kNoise.data(), kNoise.size()}},
                       R"({"step": 1})", opt);
}

static bool readable_and_complete(const std::string& path) {
  tk::CheckpointReader r(path);
  Bytes w(kWeights.size()), n(kNoise.size());
  r.decode({{0, w.data(), w.size()}, {1, n.data(), n.size()}}, true, 1);
  return w == kWeights && n == kNoise;
}

static void test_fault_at_every_call() {
  tkt::TempDir dir;
  const std::string path = dir / "00000001-s1.tkpt", tmp = dir / ".tmp";
  write_small(dir / "warmup.tkpt");  // .tmp exists from here on, as in a running store

  sys::FaultPlan trace_plan;
  trace_plan.trace = true;
  sys::set_fault_plan(trace_plan);
  write_small(path);
  const uint64_t calls = sys::call_count();
  std::vector<sys::TraceEntry> trace = sys::take_trace();
  sys::clear_fault_plan();
  CHECK(readable_and_complete(path) && tkt::list_dir(tmp).empty());
  std::remove(path.c_str());
  CHECK(calls == trace.size() && calls >= 10);
  if (trace.size() != calls || calls < 10) return;

  // open the directory, mkdir .tmp, open .tmp (O_NOFOLLOW), open .partial
  // in it, pwrite..., fsync, close, rename, fsync the directory, then close
  // .tmp and the directory.
  CHECK(trace[0].op == sys::Op::Open && trace[0].path == dir.path() && (trace[0].flags & O_DIRECTORY));
  CHECK(trace[1].op == sys::Op::Mkdir && trace[1].path == tmp);
  CHECK(trace[2].op == sys::Op::Open && trace[2].path == tmp && (trace[2].flags & O_NOFOLLOW));
  CHECK(trace[3].op == sys::Op::Open && tkt::contains(trace[3].path, "/.tmp/") && tkt::contains(trace[3].path, ".partial") &&
        (trace[3].flags & O_EXCL) && (trace[3].flags & O_NOFOLLOW));
  size_t rename_at = 0;  // 1-based call number of the rename
  for (size_t i = 0; i < trace.size(); i++)
    if (trace[i].op == sys::Op::Rename) rename_at = i + 1;
  CHECK(rename_at == calls - 3 && trace[rename_at - 1].path2 == path);
  CHECK(trace[calls - 3].op == sys::Op::Fsync && trace[calls - 3].path == dir.path());
  CHECK(trace[calls - 2].op == sys::Op::Close && trace[calls - 2].path == tmp);
  CHECK(trace[calls - 1].op == sys::Op::Close && trace[calls - 1].path == dir.path());

  for (uint64_t k = 1; k <= calls; k++) {
    const sys::TraceEntry& call = trace[k - 1];
    std::string where = "call " + std::to_string(k) + " (" + sys::op_name(call.op) + " " + call.path + ")";
    sys::FaultPlan plan;
    plan.fail_at = k;
    plan.fail_errno = ENOSPC;
    sys::set_fault_plan(plan);
    std::string error;
    try {
      write_small(path);
    } catch (const tk::Error& e) {
      error = e.what();
      if (e.code() != ErrorCode::NoSpace || e.sys_errno() != ENOSPC)
        tkt::fail(__FILE__, __LINE__, where + ": wanted E_NOSPACE, got " + tk::error_code_name(e.code()) + " " + error);
    }
    sys::clear_fault_plan();
    if (k >= calls - 1) {
      // A failing close of .tmp or of the directory loses nothing: ignored.
      CHECK(error.empty());
    } else if (error.empty()) {
      tkt::fail(__FILE__, __LINE__, where + ": the write did not fail");
    } else {
      CHECK(tkt::contains(error, "No space left on device"));
    }
    if (k > rename_at) {
      // The rename happened: the file is complete, only its directory entry
      // may not be durable yet (the caller was told by the exception).
      if (!tkt::exists(path) || !readable_and_complete(path)) tkt::fail(__FILE__, __LINE__, where + ": renamed file is not complete");
    } else if (tkt::exists(path)) {
      tkt::fail(__FILE__, __LINE__, where + ": final file exists after a failed write");
    }
    if (!tkt::list_dir(tmp).empty()) tkt::fail(__FILE__, __LINE__, where + ": left " + tkt::list_dir(tmp)[0] + " in .tmp");
    std::remove(path.c_str());
    ++tkt::g_passed;
  }
  std::printf("file_io_test: injected ENOSPC at each of the %llu system calls of a write\n", (unsigned long long)calls);

  // A disk that stays full for writes: the cleanup unlink still works.
  sys::FaultPlan full;
  std::string spec_error;
  CHECK(sys::parse_fault_plan("op=pwrite,fail_at=2,errno=EDQUOT,sticky", &full, &spec_error));
  sys::set_fault_plan(full);
  CHECK_THROWS_CODE(write_small(path), ErrorCode::NoSpace, "pwrite " + tmp + "/");
  sys::clear_fault_plan();
  CHECK(!tkt::exists(path) && tkt::list_dir(tmp).empty());

  // EIO from fsync is an I/O error, and the unsynced file is never renamed.
  sys::FaultPlan eio;
  eio.has_op = true;
  eio.op = sys::Op::Fsync;
  eio.fail_at = 1;
  eio.fail_errno = EIO;
  sys::set_fault_plan(eio);
  CHECK_THROWS_CODE(write_small(path), ErrorCode::Io, "fsync " + tmp + "/");
  sys::clear_fault_plan();
  CHECK(!tkt::exists(path) && tkt::list_dir(tmp).empty());
  write_small(path);  // and the seam is disarmed again
  CHECK(readable_and_complete(path));
}

// A failed write while two threads encode ahead: the error reaches the
// caller, the encoder threads stop, and nothing is left behind.
// The power-loss model (test/power-loss.test.ts) rebuilds every file from the
// trace alone: the writes' bytes replayed at their offsets must give the file,
// and the open must say that it created the file.
static void test_trace_rebuilds_the_file() {
  tkt::TempDir dir;
  const std::string path = dir / "00000001-s1.tkpt";
  sys::FaultPlan plan;
  plan.trace = true;
  sys::set_fault_plan(plan);
  write_small(path);
  std::vector<sys::TraceEntry> trace = sys::take_trace();
  sys::clear_fault_plan();

  std::string rebuilt, temp;
  int temp_flags = 0;
  for (const sys::TraceEntry& e : trace) {
    if (e.op == sys::Op::Open && tkt::contains(e.path, ".partial")) temp = e.path, temp_flags = e.flags;
    if (e.op != sys::Op::Pwrite) continue;
    CHECK(e.path == temp && e.data.size() == e.length);
    if (rebuilt.size() < e.offset + e.length) rebuilt.resize(e.offset + e.length);
    rebuilt.replace(e.offset, e.length, e.data);
  }
  CHECK((temp_flags & O_CREAT) && (temp_flags & O_EXCL) && (temp_flags & O_ACCMODE) == O_WRONLY);
  const std::string file = tkt::read_file(path);
  CHECK(!file.empty() && rebuilt == file);
  CHECK(sys::take_trace().empty());  // taking the trace clears it
}

static void test_fault_while_encoding_in_parallel() {
  tkt::TempDir dir;
  Bytes data = tkt::compressible_bytes(4 << 20);
  tk::WriteOptions opt;
  opt.chunk_bytes = 64 << 10;
  opt.threads = 2;
  for (uint64_t fail_at : {1, 5, 40}) {
    sys::FaultPlan plan;
    plan.has_op = true;
    plan.op = sys::Op::Pwrite;
    plan.fail_at = fail_at;
    plan.fail_errno = EIO;
    sys::set_fault_plan(plan);
    CHECK_THROWS_CODE(tk::write_checkpoint(dir / "p.tkpt", {{"w", tk::Dtype::F32, {1 << 20}, data.data(), data.size()}}, "{}", opt),
                      ErrorCode::Io, "pwrite");
    sys::clear_fault_plan();
    CHECK(!tkt::exists(dir / "p.tkpt") && tkt::list_dir(dir / ".tmp").empty());
  }
}

static void test_atomic_file() {
  tkt::TempDir dir;
  std::string path = dir / "f.bin";
  {
    tk::AtomicFile f(path);
    f.write_at("hello", 5, 0);
    CHECK(tkt::read_file(f.temp_path()) == "hello" && !tkt::exists(path));
  }  // never committed: the temp file goes away
  CHECK(!tkt::exists(path) && tkt::list_dir(dir / ".tmp").empty());
  {
    tk::AtomicFile f(path);
    f.write_at("world", 5, 3);  // positional: bytes 0..2 stay a hole
    f.commit();
  }
  CHECK(tkt::read_file(path) == std::string("\0\0\0world", 8) && tkt::list_dir(dir / ".tmp").empty());
  CHECK_THROWS_CODE(tk::AtomicFile(dir / "no/such/dir/f.bin"), ErrorCode::NotFound, "open " + dir / "no/such/dir");
}

static void test_file_lock() {
  tkt::TempDir dir;
  std::string path = dir / "LOCK";
  const std::string pid = std::to_string(::getpid());
  {
    tk::FileLock lock(path);
    CHECK(tkt::read_file(path) == pid + "\n");
    // flock locks belong to the open file description, so a second open in
    // this very process conflicts like another process would.
    CHECK_THROWS_CODE(tk::FileLock{path}, ErrorCode::Locked, path + " is held by pid " + pid);
    CHECK_THROWS_CODE(tk::FileLock{path}, ErrorCode::Locked, "held by pid");  // a failed attempt changes nothing
  }
  tk::FileLock again(path);  // released with the first one
  CHECK(tkt::read_file(path) == pid + "\n");
  // The lock's directory is opened first (never through a link): its absence is what the error names.
  CHECK_THROWS_CODE(tk::FileLock(dir / "missing/LOCK"), ErrorCode::NotFound, "open " + dir / "missing");
}

static void test_fault_plan_grammar() {
  sys::FaultPlan p;
  std::string err;
  CHECK(sys::parse_fault_plan("crash_at=12", &p, &err) && p.crash_at == 12 && p.fail_at == 0 && !p.has_op && !p.trace);
  CHECK(sys::parse_fault_plan("op=fsync,fail_at=1,errno=ENOSPC,sticky", &p, &err));
  CHECK(p.has_op && p.op == sys::Op::Fsync && p.fail_at == 1 && p.fail_errno == ENOSPC && p.sticky && p.crash_at == 0);
  CHECK(sys::parse_fault_plan("fail_at=3", &p, &err) && p.fail_at == 3 && p.fail_errno == EIO);  // EIO by default
  CHECK(sys::parse_fault_plan("trace,,op=ftruncate,", &p, &err) && p.trace && p.op == sys::Op::Ftruncate);
  CHECK(sys::parse_fault_plan("", &p, &err) && !p.has_op && p.fail_at == 0 && p.crash_at == 0 && !p.sticky);
  CHECK(sys::parse_fault_plan("op=pwrite,delay_us=2000,jitter", &p, &err) && p.delay_us == 2000 && p.jitter && p.fail_at == 0);
  for (const char* e : {"EIO", "ENOSPC", "EDQUOT", "EACCES", "EROFS", "EINTR"})
    CHECK(sys::parse_fault_plan(std::string("fail_at=1,errno=") + e, &p, &err) && p.fail_errno != 0);
  for (sys::Op op : {sys::Op::Open, sys::Op::Close, sys::Op::Pwrite, sys::Op::Pread, sys::Op::Fsync, sys::Op::Rename,
                     sys::Op::Unlink, sys::Op::Mkdir, sys::Op::Rmdir, sys::Op::Flock, sys::Op::Fstat, sys::Op::Ftruncate}) {
    sys::Op back;
    CHECK(sys::op_from_name(sys::op_name(op), &back) && back == op);
  }

  const struct { const char* spec; const char* error; } bad[] = {
      {"op=bogus", "unknown op 'bogus'"},
      {"op=", "unknown op ''"},
      {"fail_at=", "fail_at needs a number (0 or more), got ''"},
      {"fail_at=12x", "fail_at needs a number (0 or more), got '12x'"},
      {"crash_at", "crash_at needs a number (0 or more), got ''"},
      {"fail_at=-1", "fail_at needs a number (0 or more), got '-1'"},
      {"crash_at=99999999999999999999", "crash_at needs a number (0 or more), got '99999999999999999999'"},
      {"delay_us=fast", "delay_us needs a number (0 or more), got 'fast'"},
      {"errno=EFOO", "unknown errno 'EFOO'"},
      {"fail_at=1,errno=enospc", "unknown errno 'enospc'"},
      {"foo=1", "unknown fault plan key 'foo'"},
      {"trace,sticky,Fail_at=1", "unknown fault plan key 'Fail_at'"},
  };
  for (const auto& b : bad) {
    sys::FaultPlan untouched;
    untouched.crash_at = 99;
    err.clear();
    bool ok = sys::parse_fault_plan(b.spec, &untouched, &err);
    if (ok || err != b.error || untouched.crash_at != 99)
      tkt::fail(__FILE__, __LINE__, std::string("spec '") + b.spec + "': got '" + err + "'");
    else
      ++tkt::g_passed;
  }
}

// A delayed plan slows the counted calls (and only those) without failing them.
static void test_delay() {
  tkt::TempDir dir;
  sys::FaultPlan plan;
  std::string err;
  CHECK(sys::parse_fault_plan("op=fsync,delay_us=20000", &plan, &err));
  sys::set_fault_plan(plan);
  auto started = std::chrono::steady_clock::now();
  write_small(dir / "slow.tkpt");
  auto elapsed = std::chrono::steady_clock::now() - started;
  uint64_t fsyncs = sys::call_count();
  sys::clear_fault_plan();
  CHECK(fsyncs >= 2);  // the file and its directory
  CHECK(elapsed >= std::chrono::microseconds(20000 * fsyncs));
  CHECK(readable_and_complete(dir / "slow.tkpt"));
}

static void test_errors_and_paths() {
  const struct { int err; ErrorCode code; } map[] = {{ENOSPC, ErrorCode::NoSpace}, {EDQUOT, ErrorCode::NoSpace},
                                                    {ENOENT, ErrorCode::NotFound}, {EACCES, ErrorCode::Io}, {EIO, ErrorCode::Io}};
  for (const auto& m : map) {
    std::string msg = CHECK_THROWS_CODE(tk::throw_sys_error("pwrite", "/x/y", m.err), m.code, "pwrite /x/y: ");
    CHECK(tkt::contains(msg, std::strerror(m.err)));
  }
  try {
    tk::throw_sys_error("open", "p", EROFS);
  } catch (const tk::Error& e) {
    CHECK(e.sys_errno() == EROFS);
  }
  CHECK(std::string(tk::error_code_name(ErrorCode::Locked)) == "E_LOCKED");
  CHECK(std::string(tk::error_code_name(ErrorCode::NotFound)) == "E_NOT_FOUND");
  CHECK(tk::dirname_of("/a/b/c.tkpt") == "/a/b" && tk::basename_of("/a/b/c.tkpt") == "c.tkpt");
  CHECK(tk::dirname_of("c.tkpt") == "." && tk::basename_of("c.tkpt") == "c.tkpt");
  CHECK(tk::dirname_of("/c") == "/" && tk::basename_of("/c") == "c");

  tkt::TempDir dir;
  tk::ensure_dir(dir / "sub");
  tk::ensure_dir(dir / "sub");  // already there: fine
  tk::fsync_dir(dir / "sub");
  CHECK_THROWS_CODE(tk::fsync_dir(dir / "nope"), ErrorCode::NotFound, "open " + dir / "nope");
  tkt::write_file(dir / "short", "abc");
  tk::ReadOnlyFile f(dir / "short");
  char buf[8];
  CHECK(f.size() == 3);
  f.read_exact(buf, 3, 0);
  CHECK(std::string(buf, 3) == "abc");
  CHECK_THROWS_CODE(f.read_exact(buf, 4, 0), ErrorCode::Corrupt, "file ends at byte 3, 1 bytes short");
  CHECK_THROWS_CODE(tk::ReadOnlyFile(dir / "none"), ErrorCode::NotFound, dir / "none");
  CHECK_THROWS_CODE(tk::ReadOnlyFile(dir.path()), ErrorCode::Corrupt, dir.path() + " is a directory, not a regular file");
  CHECK_THROWS_CODE(tk::ReadOnlyFile(dir.path(), ErrorCode::Io), ErrorCode::Io, dir.path() + " is a directory");
}

int main() {
  return tkt::run("file_io_test", {test_fault_at_every_call, test_trace_rebuilds_the_file, test_fault_while_encoding_in_parallel, test_atomic_file, test_file_lock, test_fault_plan_grammar,
                                   test_delay, test_errors_and_paths});
}
