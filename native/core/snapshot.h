// Copies a set of tensors into one staging buffer at given offsets: the only
// work a save does on the training thread. Large copies are split across
// threads; the destination is expected to be reused (pre-faulted) memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tk {

struct CopySpan {
  const uint8_t* src;
  uint8_t* dst;
  size_t len;
};

// Copies of at least this many bytes in total are split across threads.
constexpr size_t kParallelCopyThreshold = size_t(8) << 20;

void snapshot_copy(const std::vector<CopySpan>& spans, int threads);

}  // namespace tk
