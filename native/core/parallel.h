// Runs independent pieces of work on several threads. Used for the large
// copies, compressions and decodes that must use both cores; small work runs
// inline because starting a thread costs more than it saves.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace tk {

// Hardware threads, at least 1.
int hardware_threads();

// Threads worth using for `bytes` of work when each thread should get at
// least `min_bytes_per_thread`: starting a thread costs ~50 µs, so small
// checkpoints are encoded and decoded on the calling thread alone.
int threads_for(uint64_t bytes, int threads, uint64_t min_bytes_per_thread);

// Calls fn(i, worker) for every i in [0, n) on up to `threads` threads (the
// caller is worker 0). Items are handed out dynamically, in increasing order.
// The first exception thrown stops the handing out of new items and is
// rethrown here once every thread has stopped.
void parallel_for(size_t n, int threads, const std::function<void(size_t i, int worker)>& fn);

}  // namespace tk
