// The staging copy (snapshot.h): a save's only work on the training thread.
#include "snapshot.h"

#include <cstring>

#include "parallel.h"

namespace tk {
namespace {
// Pieces small enough to balance two threads, large enough that handing one
// out costs nothing next to copying it.
constexpr size_t kPiece = size_t(2) << 20;
}  // namespace

void snapshot_copy(const std::vector<CopySpan>& spans, int threads) {
  size_t total = 0;
  for (const auto& s : spans) total += s.len;
  if (threads <= 1 || total < kParallelCopyThreshold) {
    for (const auto& s : spans)
      if (s.len) std::memcpy(s.dst, s.src, s.len);
    return;
  }
  std::vector<CopySpan> pieces;
  pieces.reserve(total / kPiece + spans.size());
  for (const auto& s : spans)
    for (size_t off = 0; off < s.len; off += kPiece)
      pieces.push_back({s.src + off, s.dst + off, std::min(kPiece, s.len - off)});
  parallel_for(pieces.size(), threads,
               [&](size_t i, int) { std::memcpy(pieces[i].dst, pieces[i].src, pieces[i].len); });
}

}  // namespace tk
