// Lowering one thread's scheduling priority (thread_priority.h). On Linux a
// nice value belongs to a thread, not the process: setpriority() with the
// thread's id changes that thread only, and threads it creates later start
// with the same value.
#include "thread_priority.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace tk {

int lower_thread_priority(int nice) {
#if defined(__linux__)
  const id_t tid = id_t(syscall(SYS_gettid));
  errno = 0;
  int now = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return -100;
  if (nice > now && setpriority(PRIO_PROCESS, tid, nice) == 0) now = nice;
  return now;
#else
  (void)nice;
  return -100;
#endif
}

}  // namespace tk
