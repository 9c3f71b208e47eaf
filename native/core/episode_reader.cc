// Scanning and reading episode segments (episode_reader.h): recovery's scan,
// replay's reads.
#include "episode_reader.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "codec.h"
#include "errors.h"
#include "file_io.h"
#include "parallel.h"

namespace tk::episodes {
namespace {

std::string at_offset(const std::string& path, uint64_t offset) { return path + " at byte " + std::to_string(offset); }

// A frame with a matching checksum whose record does not parse or decode was
// not written by a tensorkeep of this version: damage, like a torn frame.
Damage undecodable(const FrameInfo& f, const Error& e) { return {f.offset, f.frame_bytes, e.what()}; }

void sort_damages(std::vector<Damage>& damages) {
  std::sort(damages.begin(), damages.end(), [](const Damage& a, const Damage& b) { return a.offset < b.offset; });
}

}  // namespace

SegmentScan scan_segment(const std::string& path) {
  ReadOnlyFile file(path, ErrorCode::Corrupt);
  std::vector<uint8_t> bytes(file.size());
  file.read_exact(bytes.data(), bytes.size(), 0);
  SegmentScan scan;
  scan.file_bytes = bytes.size();
  try {
    scan.header = parse_segment_header(bytes.data(), bytes.size(), path);
    scan.header_ok = true;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::Version) throw;
    scan.header_problem = e.what();
  }
  if (bytes.size() < kSegmentHeaderBytes) {
    scan.good_end = 0;
    return scan;
  }
  FrameScan frames = scan_frames(bytes.data() + kSegmentHeaderBytes, bytes.size() - kSegmentHeaderBytes, kSegmentHeaderBytes);
  scan.damages = std::move(frames.damages);
  scan.good_end = frames.good_end;
  scan.tail = std::move(frames.tail);
  for (const FrameInfo& f : frames.frames) {
    const std::string what = at_offset(path, f.offset);
    try {
      // Parsing checks the whole record's layout; the head is stored as is.
      Record r = parse_record(bytes.data() + f.offset + kFrameHeaderBytes, f.frame_bytes - kFrameHeaderBytes, false, what);
      scan.records.push_back({f, std::string(reinterpret_cast<const char*>(r.head), r.head_len)});
    } catch (const Error& e) {
      scan.damages.push_back(undecodable(f, e));
    }
  }
  sort_damages(scan.damages);
  return scan;
}

namespace {
// A read buffer larger than this is not kept for the thread's next read.
constexpr size_t kKeepReadBytes = size_t(8) << 20;
}  // namespace

RangeRead read_range(const std::string& path, uint64_t offset, uint64_t len) {
  ReadOnlyFile file(path, ErrorCode::Corrupt);
  RangeRead result;
  const uint64_t size = file.size();
  const uint64_t begin = std::min(offset, size);
  const uint64_t end = std::min(size, len > size - begin ? size : begin + len);
  // Kept by the thread: a replay reads range after range, and fresh pages
  // would fault in one by one each time.
  thread_local FrameBytes bytes;
  bytes.resize(end - begin);
  file.read_exact(bytes.data(), bytes.size(), begin);
  FrameScan frames = scan_frames(bytes.data(), bytes.size(), begin);
  result.damages = std::move(frames.damages);
  if (frames.good_end < end) result.damages.push_back({frames.good_end, end - frames.good_end, frames.tail});
  if (end < offset + len)
    result.damages.push_back({end, offset + len - end, "the segment ends at byte " + std::to_string(size)});
  std::vector<Record> records;
  std::vector<const FrameInfo*> frame_of;
  std::vector<size_t> at;  // where each record goes in `out`
  size_t total = 0;
  for (const FrameInfo& f : frames.frames) {
    try {
      records.push_back(parse_record(bytes.data() + (f.offset - begin) + kFrameHeaderBytes, f.frame_bytes - kFrameHeaderBytes,
                                     false, at_offset(path, f.offset)));
      frame_of.push_back(&f);
      at.push_back(total);
      total += records.back().raw_bytes;
    } catch (const Error& e) {
      result.damages.push_back(undecodable(f, e));
    }
  }
  result.out.resize(total);
  // Contiguous runs of records, one per thread, each with its own decoder.
  const size_t count = records.size();
  const int threads = threads_for(total, hardware_threads(), kMinCodecBytesPerThread);
  std::vector<uint8_t> decoded(count, 0);
  std::mutex damages_mu;
  parallel_for(size_t(threads), threads, [&](size_t part, int) {
    RecordDecoder decoder;
    for (size_t i = count * part / size_t(threads); i < count * (part + 1) / size_t(threads); i++) {
      try {
        decoder.decode(records[i], result.out.data() + at[i], at_offset(path, frame_of[i]->offset));
        decoded[i] = 1;
      } catch (const Error& e) {
        std::memset(result.out.data() + at[i], 0, records[i].raw_bytes);  // no stale heap bytes reach JavaScript
        std::lock_guard<std::mutex> lock(damages_mu);
        result.damages.push_back(undecodable(*frame_of[i], e));
      }
    }
  });
  uint32_t schema = 0;
  const Record* prev = nullptr;
  for (size_t i = 0; i < count; i++) {
    if (!decoded[i]) continue;
    const Record& r = records[i];
    if (prev && (r.schema_len != prev->schema_len || std::memcmp(r.schema, prev->schema, r.schema_len) != 0)) schema++;
    prev = &r;
    result.starts.push_back(at[i]);
    result.schemas.push_back(schema);
  }
  if (bytes.capacity() > kKeepReadBytes) FrameBytes().swap(bytes);
  sort_damages(result.damages);
  return result;
}

}  // namespace tk::episodes
