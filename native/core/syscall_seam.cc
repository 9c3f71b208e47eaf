// The system-call seam (syscall_seam.h): fault plans, crash points and the
// trace.
#include "syscall_seam.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace tk::sys {
namespace {

struct SeamState {
  std::mutex mu;  // guards plan, trace and fd_paths; taken only when a plan is armed
  FaultPlan plan;
  std::atomic<bool> armed{false};
  std::atomic<uint64_t> calls{0};
  std::vector<TraceEntry> trace;
  std::unordered_map<int, std::string> fd_paths;
};

SeamState& state() {
  static SeamState* s = [] {
    auto* st = new SeamState();  // never destroyed: used from exit paths
    if (const char* spec = std::getenv("TENSORKEEP_FAULTS")) {
      FaultPlan plan;
      std::string err;
      if (parse_fault_plan(spec, &plan, &err)) {
        st->plan = plan;
        st->armed = true;
      }
    }
    return st;
  }();
  return *s;
}

// The call as the power-loss model sees it: what it names and, for a write,
// the bytes it writes.
struct Call {
  Op op;
  const char* path = nullptr;  // or nullptr for a call on fd
  int fd = -1;
  const char* path2 = nullptr;
  uint64_t offset = 0, length = 0;
  int flags = 0;
  const void* data = nullptr;
};

void record(SeamState& s, const Call& c) {
  TraceEntry e{c.op, c.path ? c.path : (c.fd >= 0 ? s.fd_paths[c.fd] : ""), c.path2 ? c.path2 : "", c.offset, c.length,
               c.flags, c.data ? std::string(static_cast<const char*>(c.data), c.length) : std::string()};
  s.trace.push_back(std::move(e));
}

// Under the lock: counts the call, records it, says whether it fails and
// how long to sleep first; may not return when the plan says the process dies.
bool check_plan(SeamState& s, const Call& c, uint64_t* sleep_us) {
  std::lock_guard<std::mutex> lock(s.mu);
  const FaultPlan& p = s.plan;
  if (p.has_op && p.op != c.op) {
    if (p.trace) record(s, c);
    return false;
  }
  uint64_t n = ++s.calls;
  // splitmix64 of the call number: reproducible jitter without shared RNG state.
  uint64_t z = (n + 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
  *sleep_us = p.jitter && p.delay_us != 0 ? (z ^ (z >> 29)) % (p.delay_us + 1) : p.delay_us;
  if (p.crash_at != 0 && n == p.crash_at) {
    ::kill(::getpid(), SIGKILL);
    ::pause();
  }
  if (p.trace) record(s, c);
  if (p.fail_at != 0 && (n == p.fail_at || (p.sticky && n > p.fail_at))) {
    errno = p.fail_errno;
    return true;
  }
  return false;
}

// True (with errno set) when the plan says this call fails; may not return
// at all when the plan says the process dies here.
bool intercept(const Call& call) {
  SeamState& s = state();
  if (!s.armed.load(std::memory_order_relaxed)) return false;
  uint64_t sleep_us = 0;
  bool failed = check_plan(s, call, &sleep_us);
  int saved_errno = errno;
  // Outside the lock: a slow call must not hold up the other threads' calls.
  if (sleep_us != 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
  errno = saved_errno;
  return failed;
}

void remember_fd(int fd, const char* path) {
  SeamState& s = state();
  if (fd < 0 || !s.armed.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.plan.trace) s.fd_paths[fd] = path;
}

const struct { Op op; const char* name; } kOpNames[] = {
    {Op::Open, "open"},   {Op::Close, "close"}, {Op::Pwrite, "pwrite"}, {Op::Pread, "pread"},
    {Op::Fsync, "fsync"}, {Op::SyncRange, "sync_range"}, {Op::Rename, "rename"}, {Op::Unlink, "unlink"}, {Op::Mkdir, "mkdir"},
    {Op::Rmdir, "rmdir"}, {Op::Flock, "flock"}, {Op::Fstat, "fstat"}, {Op::Ftruncate, "ftruncate"},
};

}  // namespace

const char* op_name(Op op) {
  for (const auto& e : kOpNames)
    if (e.op == op) return e.name;
  return "?";
}

bool op_from_name(const std::string& name, Op* out) {
  for (const auto& e : kOpNames)
    if (name == e.name) {
      *out = e.op;
      return true;
    }
  return false;
}

void set_fault_plan(const FaultPlan& plan) {
  SeamState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.plan = plan;
  s.calls = 0;
  s.trace.clear();
  s.fd_paths.clear();
  s.armed = true;
}

void clear_fault_plan() {
  SeamState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.plan = FaultPlan();
  s.armed = false;
  s.calls = 0;
}

uint64_t call_count() { return state().calls.load(); }

std::vector<TraceEntry> take_trace() {
  SeamState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<TraceEntry> out;
  out.swap(s.trace);
  return out;
}

bool parse_fault_plan(const std::string& spec, FaultPlan* plan, std::string* error) {
  static const struct { const char* name; int value; } kErrnos[] = {
      {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EACCES", EACCES}, {"EROFS", EROFS}, {"EINTR", EINTR}};
  FaultPlan p;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    char* num_end = nullptr;
    if (key == "sticky") {
      p.sticky = true;
    } else if (key == "trace") {
      p.trace = true;
    } else if (key == "jitter") {
      p.jitter = true;
    } else if (key == "op") {
      if (!op_from_name(value, &p.op)) return *error = "unknown op '" + value + "'", false;
      p.has_op = true;
    } else if (key == "fail_at" || key == "crash_at" || key == "delay_us") {
      errno = 0;
      uint64_t v = std::strtoull(value.c_str(), &num_end, 10);
      // strtoull accepts "-1" (wrapping it) and clamps overflow: refuse both.
      if (value.empty() || value[0] == '-' || *num_end != '\0' || errno == ERANGE)
        return *error = key + " needs a number (0 or more), got '" + value + "'", false;
      (key == "fail_at" ? p.fail_at : key == "crash_at" ? p.crash_at : p.delay_us) = v;
    } else if (key == "errno") {
      bool found = false;
      for (const auto& e : kErrnos)
        if (value == e.name) p.fail_errno = e.value, found = true;
      if (!found) return *error = "unknown errno '" + value + "'", false;
    } else {
      return *error = "unknown fault plan key '" + key + "'", false;
    }
    if (end == spec.size()) break;
  }
  if (p.fail_at != 0 && p.fail_errno == 0) p.fail_errno = EIO;
  *plan = p;
  return true;
}

int open(const char* path, int flags, mode_t mode) {
  if (intercept({Op::Open, path, -1, nullptr, 0, 0, flags})) return -1;
  int fd;
  do fd = ::open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  remember_fd(fd, path);
  return fd;
}

int close(int fd) {
  if (intercept({Op::Close, nullptr, fd})) {
    ::close(fd);  // the descriptor is gone either way, as with a real failing close
    return -1;
  }
  return ::close(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) {
  if (intercept({Op::Pwrite, nullptr, fd, nullptr, uint64_t(offset), len, 0, buf})) return -1;
  return ::pwrite(fd, buf, len, offset);
}

ssize_t pread(int fd, void* buf, size_t len, off_t offset) {
  if (intercept({Op::Pread, nullptr, fd, nullptr, uint64_t(offset), len})) return -1;
  return ::pread(fd, buf, len, offset);
}

int fsync(int fd) {
  if (intercept({Op::Fsync, nullptr, fd})) return -1;
  return ::fsync(fd);
}

int start_writeback(int fd, uint64_t offset, uint64_t length) {
  if (intercept({Op::SyncRange, nullptr, fd, nullptr, offset, length})) return -1;
  return ::sync_file_range(fd, off64_t(offset), off64_t(length), SYNC_FILE_RANGE_WRITE);
}

int openat(int dirfd, const char* name, const char* path, int flags, mode_t mode) {
  if (intercept({Op::Open, path, -1, nullptr, 0, 0, flags})) return -1;
  int fd;
  do fd = ::openat(dirfd, name, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  remember_fd(fd, path);
  return fd;
}

int mkdirat(int dirfd, const char* name, const char* path, mode_t mode) {
  if (intercept({Op::Mkdir, path})) return -1;
  return ::mkdirat(dirfd, name, mode);
}

int unlinkat(int dirfd, const char* name, const char* path, int flags) {
  if (intercept({flags & AT_REMOVEDIR ? Op::Rmdir : Op::Unlink, path})) return -1;
  return ::unlinkat(dirfd, name, flags);
}

int renameat(int from_dirfd, const char* from_name, const char* from_path, int to_dirfd, const char* to_name,
             const char* to_path) {
  if (intercept({Op::Rename, from_path, -1, to_path})) return -1;
  return ::renameat(from_dirfd, from_name, to_dirfd, to_name);
}

int rename(const char* from, const char* to) {
  if (intercept({Op::Rename, from, -1, to})) return -1;
  return ::rename(from, to);
}

int unlink(const char* path) {
  if (intercept({Op::Unlink, path})) return -1;
  return ::unlink(path);
}

int mkdir(const char* path, mode_t mode) {
  if (intercept({Op::Mkdir, path})) return -1;
  return ::mkdir(path, mode);
}

int rmdir(const char* path) {
  if (intercept({Op::Rmdir, path})) return -1;
  return ::rmdir(path);
}

int flock(int fd, int operation) {
  if (intercept({Op::Flock, nullptr, fd})) return -1;
  int rc;
  do rc = ::flock(fd, operation);
  while (rc < 0 && errno == EINTR);
  return rc;
}

int fstat_size(int fd, uint64_t* size, mode_t* mode) {
  if (intercept({Op::Fstat, nullptr, fd})) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0) return -1;
  *size = uint64_t(st.st_size);
  if (mode) *mode = st.st_mode;
  return 0;
}

int fstat(int fd, struct stat* st) {
  if (intercept({Op::Fstat, nullptr, fd})) return -1;
  return ::fstat(fd, st);
}

int ftruncate(int fd, off_t length) {
  if (intercept({Op::Ftruncate, nullptr, fd, nullptr, uint64_t(length)})) return -1;
  return ::ftruncate(fd, length);
}

}  // namespace tk::sys
