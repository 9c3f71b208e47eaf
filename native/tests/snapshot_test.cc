// core/snapshot and core/parallel: copies of many spans, below and above the
// parallel threshold, on one and two threads, land byte for byte where asked
// and nowhere else; parallel_for covers every item once and rethrows.
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "parallel.h"
#include "snapshot.h"
#include "test_util.h"

using Bytes = std::vector<uint8_t>;

// Copies spans of the given sizes out of one source buffer into a
// destination laid out with 64-byte gaps, then checks data and gaps.
static void copy_and_check(const std::vector<size_t>& sizes, int threads) {
  size_t total = 0;
  for (size_t s : sizes) total += s;
  Bytes src = tkt::random_bytes(total, sizes.size() + size_t(threads)), dst(total + 64 * (sizes.size() + 1), 0xCD);
  std::vector<tk::CopySpan> spans;
  size_t in = 0, out = 64;
  for (size_t s : sizes) {
    spans.push_back({src.data() + in, dst.data() + out, s});
    in += s;
    out += s + 64;
  }
  tk::snapshot_copy(spans, threads);
  bool ok = true;
  in = 0, out = 0;
  for (size_t s : sizes) {
    for (size_t g = 0; g < 64; g++) ok &= dst[out + g] == 0xCD;  // the gap before each span is untouched
    out += 64;
    ok &= std::equal(src.begin() + long(in), src.begin() + long(in + s), dst.begin() + long(out));
    in += s;
    out += s;
  }
  for (size_t g = 0; g < 64; g++) ok &= dst[out + g] == 0xCD;
  CHECK(ok);
}

static void test_snapshot_copy() {
  std::vector<size_t> small;  // many spans, well below the threshold
  for (size_t i = 0; i < 300; i++) small.push_back((i * 7919) % 5000);
  const size_t mib = size_t(1) << 20, threshold = tk::kParallelCopyThreshold;
  const std::vector<std::vector<size_t>> cases = {
      {},
      {0, 0},
      small,
      {threshold - 1},                                 // just below: copied inline
      {threshold},                                     // exactly at the threshold
      {3 * mib + 5, 0, 1, 4 * mib + 3, 2 * mib, 77},   // above, with odd piece tails
      {12 * mib + 1},                                  // one span cut into pieces
  };
  for (int threads : {1, 2})
    for (const auto& sizes : cases) copy_and_check(sizes, threads);
  copy_and_check({5 * mib, 5 * mib}, 0);  // threads <= 1 means inline
}

static void test_parallel_for() {
  CHECK(tk::hardware_threads() >= 1);
  const uint64_t mib = 1 << 20;
  CHECK(tk::threads_for(0, 2, mib) == 1 && tk::threads_for(mib - 1, 2, mib) == 1);
  CHECK(tk::threads_for(2 * mib, 2, mib) == 2 && tk::threads_for(100 * mib, 2, mib) == 2);
  CHECK(tk::threads_for(3 * mib, 8, mib) == 3 && tk::threads_for(100 * mib, 0, mib) == 1);
  CHECK(tk::threads_for(5, 4, 0) == 4);  // no minimum: every thread
  for (int threads : {1, 2, 8}) {
    std::vector<std::atomic<int>> hits(1000);
    std::atomic<bool> worker_ok{true};
    tk::parallel_for(hits.size(), threads, [&](size_t i, int worker) {
      hits[i]++;
      if (worker < 0 || worker >= threads) worker_ok = false;
    });
    bool once = true;
    for (auto& h : hits) once &= h.load() == 1;
    CHECK(once && worker_ok);
  }
  tk::parallel_for(0, 2, [](size_t, int) { throw std::logic_error("never called"); });
  // A failing item: its error comes out of parallel_for, every item is
  // called at most once. How many items the other threads call before they
  // see the failure depends on the scheduler, so that handing out stops is
  // checked on one thread only, where it is exact: items 0-3, none after.
  for (int threads : {1, 2}) {
    std::vector<std::atomic<int>> hits(10000);
    try {
      tk::parallel_for(hits.size(), threads, [&](size_t i, int) {
        hits[i]++;
        if (i == 3) throw tk::Error(tk::ErrorCode::Corrupt, "item 3");
      });
      CHECK(false);
    } catch (const tk::Error& e) {
      CHECK(e.code() == tk::ErrorCode::Corrupt && std::string(e.what()) == "item 3");
    }
    CHECK(hits[3].load() == 1);
    bool at_most_once = true;
    int calls = 0;
    for (auto& h : hits) {
      at_most_once &= h.load() <= 1;
      calls += h.load();
    }
    CHECK(at_most_once);
    if (threads == 1) CHECK(calls == 4 && hits[0] == 1 && hits[1] == 1 && hits[2] == 1);  // stopped right after the failure
  }
}

int main() { return tkt::run("snapshot_test", {test_snapshot_copy, test_parallel_for}); }
