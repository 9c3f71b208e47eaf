// The episode log's bytes (docs/FORMAT.md, "Episode segments"): the segment
// header, the record frame, and the record payload in its two forms:
//   stored form  on disk, each block encoded (raw, zstd or shuffle+zstd) and
//                packed one after the other;
//   raw form     in memory between the addon and JavaScript, every block raw
//                and starting 8-byte aligned (so JavaScript views it in place).
// Both share one layout of header and block table. Everything is
// little-endian; every length read from a file is checked before use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec.h"

namespace tk::episodes {

constexpr uint32_t kSegmentVersion = 1;
constexpr size_t kSegmentHeaderBytes = 64;
constexpr char kSegmentMagic[8] = {'T', 'K', 'E', 'P', 'S', 'E', 'G', '\n'};

constexpr size_t kFrameHeaderBytes = 16;  // u32 magic | u32 payload_len | u64 xxh3(payload)
constexpr uint32_t kFrameMagic = 0x52454b54;  // the bytes "TKER"
constexpr size_t kMaxPayloadBytes = size_t(256) << 20;

constexpr size_t kRecordHeaderBytes = 24;  // u64 id | f64 time | u32 block_count | u32 flags
constexpr size_t kBlockEntryBytes = 12;    // u8 codec | u8 elem_size | u16 0 | u32 raw_len | u32 stored_len
constexpr uint32_t kMaxBlocks = 1u << 16;

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
  Codec codec;
  uint8_t elem_size;  // 1, 2, 4 or 8: the byte planes shuffle+zstd uses
  uint32_t raw_len;
  uint32_t stored_len;
  const uint8_t* data;  // stored bytes (raw form: the raw bytes)
};

struct Record {
  uint64_t id = 0;
  double time = 0;
  std::vector<Block> blocks;
  size_t bytes = 0;      // length of the record in its form (raw form: padded to 8)
  size_t raw_bytes = 0;  // length of its raw form
};

// Parses one record starting at `data` (at most `len` bytes) in raw form
// (`raw_form`: blocks raw, 8-aligned, stored_len == raw_len) or stored form.
// Throws Error(Corrupt) naming `what` when the bytes contradict themselves or
// run past len, Error(Version) for an unknown codec or flag.
Record parse_record(const uint8_t* data, size_t len, bool raw_form, const std::string& what);

// Encodes raw-form records into frames (stored form); one per writer thread.
class RecordEncoder {
 public:
  explicit RecordEncoder(int level) : chunks_(level) {}
  // Appends the frame of `record` (parsed from raw form) to `out`.
  void encode(const Record& record, Codec want, std::vector<uint8_t>& out);

 private:
  ChunkEncoder chunks_;
};

// Decodes a stored-form record into its raw form at dst (record.raw_bytes
// bytes, dst 8-aligned). Throws Error(Corrupt) naming `what`.
void decode_record(const Record& record, ChunkDecoder& decoder, uint8_t* dst, const std::string& what);

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
