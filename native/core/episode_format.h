// The episode log's bytes (docs/FORMAT.md, "Episode segments"): the segment
// header, the record frame, and the record payload in its two forms:
//   stored form  on disk: the JSON head and schema as they are, then every
//                block in one data section, encoded as a whole (raw, zstd,
//                or zstd of the blocks each byte-shuffled by its element size);
//   raw form     in memory between the addon and JavaScript: the data
//                section raw, every block starting 8-byte aligned (so
//                JavaScript views it in place).
// Both share one layout of header and block table. Everything is
// little-endian; every length read from a file is checked before use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "codec.h"
#include "format_limits.h"

namespace tk::episodes {

constexpr uint32_t kSegmentVersion = 1;
constexpr size_t kSegmentHeaderBytes = 64;
constexpr char kSegmentMagic[8] = {'T', 'K', 'E', 'P', 'S', 'E', 'G', '\n'};

constexpr size_t kFrameHeaderBytes = 16;  // u32 magic | u32 payload_len | u64 xxh3(payload)
constexpr uint32_t kFrameMagic = 0x52454b54;  // the bytes "TKER"
constexpr size_t kMaxPayloadBytes = kEpisodeMaxPayloadBytes;  // format_limits.h

// u64 id | f64 time | u32 head_len | u32 schema_len | u32 block_count |
// u8 codec | 3 × u8 0 | u32 data_len | u32 0
constexpr size_t kRecordHeaderBytes = 40;
constexpr size_t kBlockEntryBytes = 8;  // u8 elem_size | u8 0 | u16 0 | u32 raw_len
constexpr uint32_t kMaxBlocks = kEpisodeMaxBlocks;  // format_limits.h

struct SegmentHeader {
  uint64_t seq = 0;
  uint64_t first_id = 0;  // id of the segment's first record (ids only grow)
  double created_ms = 0;
};

void encode_segment_header(const SegmentHeader& header, uint8_t out[kSegmentHeaderBytes]);
// Throws Error(Corrupt) for a short or damaged header and Error(Version) for
// an intact header of a version this reader does not know.
SegmentHeader parse_segment_header(const uint8_t* data, size_t len, const std::string& path);

inline size_t align8(size_t n) { return (n + 7) & ~size_t(7); }

struct Block {
  uint8_t elem_size;  // 1, 2, 4 or 8: the byte planes shuffle+zstd uses
  uint32_t raw_len;
  const uint8_t* raw = nullptr;  // raw form only: the block's bytes
};

struct Record {
  uint64_t id = 0;
  double time = 0;
  const uint8_t* head = nullptr;  // the record's JSON head
  uint32_t head_len = 0;
  const uint8_t* schema = nullptr;  // JSON naming the blocks, shared by similar records
  uint32_t schema_len = 0;
  Codec codec = Codec::Raw;
  const uint8_t* data = nullptr;  // the data section (stored form)
  uint32_t data_len = 0;          // its stored length
  uint64_t data_raw_len = 0;      // sum of the blocks' raw lengths
  std::vector<Block> blocks;
  size_t bytes = 0;      // length of the record in its form (raw form: padded to 8)
  size_t raw_bytes = 0;  // length of its raw form
};

// Parses one record starting at `data` (at most `len` bytes) in raw form or
// stored form. Throws Error(Corrupt) naming `what` when the bytes contradict
// themselves or run past len, Error(Version) for an unknown codec.
Record parse_record(const uint8_t* data, size_t len, bool raw_form, const std::string& what);

// An allocator whose resize() leaves new bytes uninitialised: frame buffers
// are written in full right after they grow, so zeroing them first would be
// one more pass over every byte.
template <typename T>
struct UninitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <typename U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using FrameBytes = std::vector<uint8_t, UninitAllocator<uint8_t>>;

// Encodes raw-form records into frames (stored form); one per writer thread.
class RecordEncoder {
 public:
  explicit RecordEncoder(int level);
  ~RecordEncoder();
  RecordEncoder(const RecordEncoder&) = delete;
  RecordEncoder& operator=(const RecordEncoder&) = delete;
  // Appends the frame of `record` (parsed from raw form) to `out`; the data
  // section is stored raw when `want` does not make it smaller.
  void encode(const Record& record, Codec want, FrameBytes& out);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Decodes stored-form records into their raw form; one per reading thread.
class RecordDecoder {
 public:
  RecordDecoder();
  ~RecordDecoder();
  RecordDecoder(const RecordDecoder&) = delete;
  RecordDecoder& operator=(const RecordDecoder&) = delete;
  // Writes record.raw_bytes bytes at dst (8-aligned), every one of them.
  // Throws Error(Corrupt) naming `what` when the data section does not
  // decode to its blocks (dst may then hold part of them).
  void decode(const Record& record, uint8_t* dst, const std::string& what);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// One intact frame found by scan_frames.
struct FrameInfo {
  uint64_t offset;      // of the frame, in the file
  uint64_t frame_bytes; // header + payload
  uint64_t id;
  double time;
};

// A stretch of bytes that holds no intact frame.
struct Damage {
  uint64_t offset;
  uint64_t bytes;
  std::string problem;
};

struct FrameScan {
  std::vector<FrameInfo> frames;
  // Damaged stretches followed by an intact frame (the neighbours survive).
  std::vector<Damage> damages;
  // Where the bytes after the last intact frame start (== end when none);
  // with `tail` describing them when not empty.
  uint64_t good_end = 0;
  std::string tail;
};

// Walks the frames of data[0, len), which sits at file offset `base`. A frame
// whose header or checksum is wrong starts a damaged stretch; the scan
// resynchronises on the next offset that holds an intact frame (magic,
// plausible length, matching checksum). Never reads outside data.
FrameScan scan_frames(const uint8_t* data, size_t len, uint64_t base);

}  // namespace tk::episodes
