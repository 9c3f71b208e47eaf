// The one seam every system call of the engine goes through, so tests can
// make the k-th call fail (EIO, ENOSPC, ...) or stop the process right before
// it, and can record the sequence of operations (the crash and power-loss
// harnesses replay it). In production the plan is empty and a call costs one
// relaxed atomic increment on top of the system call.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tk::sys {

// Operation kinds, used to filter which calls a fault plan counts.
enum class Op { Open, Close, Pwrite, Pread, Fsync, SyncRange, Rename, Unlink, Mkdir, Rmdir, Flock, Fstat, Ftruncate };
const char* op_name(Op op);
bool op_from_name(const std::string& name, Op* out);

struct FaultPlan {
  // Count only calls of this kind (all kinds when has_op is false).
  bool has_op = false;
  Op op = Op::Open;
  // Make the fail_at-th counted call (1-based) fail with fail_errno; 0: never.
  uint64_t fail_at = 0;
  int fail_errno = 0;
  // Keep failing every later counted call too (a disk that stays full).
  bool sticky = false;
  // SIGKILL the process just before the crash_at-th counted call; 0: never.
  uint64_t crash_at = 0;
  // Record every call (op, path, the bytes of a pwrite) for the power-loss model.
  bool trace = false;
  // Sleep before every counted call: a slow disk. With jitter, the k-th call
  // sleeps a pseudo-random 0..delay_us (a function of k), so concurrent
  // writers finish out of order, reproducibly.
  uint64_t delay_us = 0;
  bool jitter = false;
};

struct TraceEntry {
  Op op;
  std::string path;   // path argument, or the path the fd was opened with
  std::string path2;  // rename target
  uint64_t offset = 0, length = 0;  // ftruncate: the new length is in offset
  int flags = 0;                    // open: its O_* flags (whether it creates)
  std::string data;                 // pwrite: the bytes, so the model can rebuild any file
};

void set_fault_plan(const FaultPlan& plan);  // also resets the call counter
void clear_fault_plan();
uint64_t call_count();                     // counted calls since the plan was set
std::vector<TraceEntry> take_trace();      // returns and clears the trace
// Reads TENSORKEEP_FAULTS (e.g. "crash_at=12", "op=fsync,fail_at=1,errno=ENOSPC,sticky",
// "op=pwrite,delay_us=2000,jitter")
// once at load, so a child process can be crashed without code changes.
// Returns false and sets *error for a malformed plan string.
bool parse_fault_plan(const std::string& spec, FaultPlan* plan, std::string* error);

int open(const char* path, int flags, mode_t mode = 0);
int close(int fd);
ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset);
ssize_t pread(int fd, void* buf, size_t len, off_t offset);
int fsync(int fd);
// Starts writeback of a written range without waiting for it (a hint; the
// fsync that follows is what makes the data durable).
int start_writeback(int fd, uint64_t offset, uint64_t length);
int rename(const char* from, const char* to);
int unlink(const char* path);
int mkdir(const char* path, mode_t mode);
int rmdir(const char* path);
int flock(int fd, int operation);
// The *at forms act on an entry `name` of the directory open as `dirfd`, so
// nothing a symbolic link points at is touched; `path` is the entry's full
// path, which the trace records as the plain call's would (open, mkdir,
// unlink, rename), so fault plans and the power-loss model see no difference.
int openat(int dirfd, const char* name, const char* path, int flags, mode_t mode = 0);
int mkdirat(int dirfd, const char* name, const char* path, mode_t mode);
int unlinkat(int dirfd, const char* name, const char* path, int flags);
int renameat(int from_dirfd, const char* from_name, const char* from_path, int to_dirfd, const char* to_name,
             const char* to_path);
// Size of the open file, and its st_mode when `mode` is given.
int fstat_size(int fd, uint64_t* size, mode_t* mode = nullptr);
int fstat(int fd, struct stat* st);
int ftruncate(int fd, off_t length);

}  // namespace tk::sys
