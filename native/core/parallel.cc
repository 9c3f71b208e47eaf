// Running independent pieces of work on several threads (parallel.h).
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tk {

int hardware_threads() {
  // Asked once: glibc answers by reading /sys/devices/system/cpu/online,
  // three opens and reads per save otherwise.
  static const int threads = [] {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(std::min(n, 64u));
  }();
  return threads;
}

int threads_for(uint64_t bytes, int threads, uint64_t min_bytes_per_thread) {
  uint64_t useful = bytes / std::max<uint64_t>(1, min_bytes_per_thread);
  return int(std::max<uint64_t>(1, std::min<uint64_t>(uint64_t(std::max(1, threads)), useful)));
}

void parallel_for(size_t n, int threads, const std::function<void(size_t, int)>& fn) {
  size_t workers = std::min<size_t>(n, size_t(std::max(1, threads)));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  auto run = [&](int worker) {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= n || failed.load()) return;
      try {
        fn(i, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; w++) pool.emplace_back(run, int(w));
  run(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace tk
