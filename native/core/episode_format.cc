#include "episode_format.h"

#include <cstring>

#include "endian.h"
#include "errors.h"

namespace tk::episodes {
namespace {

double get_f64(const uint8_t* p) {
  uint64_t bits = get_u64(p);
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

void put_f64(uint8_t* p, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_u64(p, bits);
}

constexpr size_t kHeaderHashAt = kSegmentHeaderBytes - 8;

bool codec_from_byte(uint8_t b, Codec* out) {
  if (b > uint8_t(Codec::ShuffleZstd)) return false;
  *out = Codec(b);
  return true;
}

// An intact frame at p (len bytes available): magic, a payload that fits and
// can hold a record header, and a matching checksum.
bool intact_frame(const uint8_t* p, size_t len, uint32_t* payload_len) {
  if (len < kFrameHeaderBytes || get_u32(p) != kFrameMagic) return false;
  uint32_t n = get_u32(p + 4);
  if (n < kRecordHeaderBytes || n > kMaxPayloadBytes || n > len - kFrameHeaderBytes) return false;
  if (xxh3_64(p + kFrameHeaderBytes, n) != get_u64(p + 8)) return false;
  *payload_len = n;
  return true;
}

// Why the bytes at p are not an intact frame, for the damage report.
std::string frame_problem(const uint8_t* p, size_t len) {
  if (len < kFrameHeaderBytes) return "torn frame header (" + std::to_string(len) + " of 16 bytes)";
  if (get_u32(p) != kFrameMagic) return "no frame magic";
  uint32_t n = get_u32(p + 4);
  if (n < kRecordHeaderBytes || n > kMaxPayloadBytes) return "implausible payload length " + std::to_string(n);
  if (n > len - kFrameHeaderBytes)
    return "torn frame: payload of " + std::to_string(n) + " bytes, " + std::to_string(len - kFrameHeaderBytes) + " present";
  return "payload fails its checksum";
}

}  // namespace

void encode_segment_header(const SegmentHeader& header, uint8_t out[kSegmentHeaderBytes]) {
  std::memset(out, 0, kSegmentHeaderBytes);
  std::memcpy(out, kSegmentMagic, 8);
  put_u32(out + 8, kSegmentVersion);
  put_u32(out + 12, 0);  // flags
  put_u64(out + 16, header.seq);
  put_u64(out + 24, header.first_id);
  put_f64(out + 32, header.created_ms);
  put_u64(out + kHeaderHashAt, xxh3_64(out, kHeaderHashAt));
}

SegmentHeader parse_segment_header(const uint8_t* data, size_t len, const std::string& path) {
  if (len < kSegmentHeaderBytes)
    throw Error(ErrorCode::Corrupt, path + ": segment header is " + std::to_string(len) + " of 64 bytes");
  if (std::memcmp(data, kSegmentMagic, 8) != 0) throw Error(ErrorCode::Corrupt, path + ": not an episode segment (bad magic)");
  if (xxh3_64(data, kHeaderHashAt) != get_u64(data + kHeaderHashAt))
    throw Error(ErrorCode::Corrupt, path + ": segment header fails its checksum");
  uint32_t version = get_u32(data + 8);
  if (version != kSegmentVersion)
    throw Error(ErrorCode::Version, path + ": episode segment format version " + std::to_string(version) +
                                        "; this tensorkeep reads version " + std::to_string(kSegmentVersion) +
                                        " (a newer tensorkeep wrote it?)");
  if (get_u32(data + 12) != 0)
    throw Error(ErrorCode::Version, path + ": segment flags " + std::to_string(get_u32(data + 12)) + " are unknown to this reader");
  return {get_u64(data + 16), get_u64(data + 24), get_f64(data + 32)};
}

Record parse_record(const uint8_t* data, size_t len, bool raw_form, const std::string& what) {
  auto corrupt = [&](const std::string& m) { return Error(ErrorCode::Corrupt, what + ": " + m); };
  if (len < kRecordHeaderBytes) throw corrupt("record of " + std::to_string(len) + " bytes is shorter than its header");
  Record r;
  r.id = get_u64(data);
  r.time = get_f64(data + 8);
  uint32_t count = get_u32(data + 16);
  if (get_u32(data + 20) != 0) throw Error(ErrorCode::Version, what + ": unknown record flags " + std::to_string(get_u32(data + 20)));
  if (count > kMaxBlocks) throw corrupt("block count " + std::to_string(count) + " over the limit of " + std::to_string(kMaxBlocks));
  size_t table_end = kRecordHeaderBytes + size_t(count) * kBlockEntryBytes;
  if (table_end > len) throw corrupt("block table of " + std::to_string(count) + " entries runs past the record");
  size_t at = table_end;
  size_t raw_at = table_end;
  r.blocks.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* e = data + kRecordHeaderBytes + size_t(i) * kBlockEntryBytes;
    Block b;
    if (!codec_from_byte(e[0], &b.codec))
      throw Error(ErrorCode::Version, what + ": block " + std::to_string(i) + " has unknown codec " + std::to_string(e[0]));
    b.elem_size = e[1];
    if (b.elem_size != 1 && b.elem_size != 2 && b.elem_size != 4 && b.elem_size != 8)
      throw corrupt("block " + std::to_string(i) + " has element size " + std::to_string(b.elem_size));
    if ((e[2] | e[3]) != 0) throw corrupt("block " + std::to_string(i) + " has non-zero reserved bytes");
    b.raw_len = get_u32(e + 4);
    b.stored_len = get_u32(e + 8);
    bool compressed = b.codec != Codec::Raw;
    if (raw_form ? (compressed || b.stored_len != b.raw_len)
                 : (compressed ? (b.stored_len == 0 || b.stored_len >= b.raw_len) : b.stored_len != b.raw_len))
      throw corrupt("block " + std::to_string(i) + ": " + codec_name(b.codec) + " with " + std::to_string(b.stored_len) +
                    " stored bytes for " + std::to_string(b.raw_len) + " raw bytes");
    if (raw_form) at = align8(at);
    if (at > len || b.stored_len > len - at)
      throw corrupt("block " + std::to_string(i) + " of " + std::to_string(b.stored_len) + " bytes runs past the record");
    b.data = data + at;
    at += b.stored_len;
    raw_at = align8(raw_at) + b.raw_len;
    if (raw_at > kMaxPayloadBytes) throw corrupt("record decodes to more than " + std::to_string(kMaxPayloadBytes) + " bytes");
    r.blocks.push_back(b);
  }
  r.bytes = raw_form ? align8(at) : at;
  r.raw_bytes = align8(raw_at);
  if (raw_form ? r.bytes > len : r.bytes != len)
    throw corrupt("record holds " + std::to_string(len) + " bytes, its blocks account for " + std::to_string(r.bytes));
  return r;
}

void RecordEncoder::encode(const Record& record, Codec want, std::vector<uint8_t>& out) {
  const size_t frame_at = out.size();
  const size_t table_bytes = record.blocks.size() * kBlockEntryBytes;
  out.resize(frame_at + kFrameHeaderBytes + kRecordHeaderBytes + table_bytes);
  uint8_t* head = out.data() + frame_at + kFrameHeaderBytes;
  put_u64(head, record.id);
  put_f64(head + 8, record.time);
  put_u32(head + 16, uint32_t(record.blocks.size()));
  put_u32(head + 20, 0);
  for (size_t i = 0; i < record.blocks.size(); i++) {
    const Block& b = record.blocks[i];
    ChunkEncoder::Result enc = chunks_.encode(b.data, b.raw_len, b.elem_size, want);
    // The table entry is written after the encode; `out` may move on resize.
    size_t entry = frame_at + kFrameHeaderBytes + kRecordHeaderBytes + i * kBlockEntryBytes;
    size_t data_at = out.size();
    out.resize(data_at + enc.len);
    std::memcpy(out.data() + data_at, enc.data, enc.len);
    uint8_t* e = out.data() + entry;
    e[0] = uint8_t(enc.codec);
    e[1] = b.elem_size;
    e[2] = e[3] = 0;
    put_u32(e + 4, b.raw_len);
    put_u32(e + 8, uint32_t(enc.len));
  }
  size_t payload = out.size() - frame_at - kFrameHeaderBytes;
  uint8_t* frame = out.data() + frame_at;
  put_u32(frame, kFrameMagic);
  put_u32(frame + 4, uint32_t(payload));
  put_u64(frame + 8, xxh3_64(frame + kFrameHeaderBytes, payload));
}

void decode_record(const Record& record, ChunkDecoder& decoder, uint8_t* dst, const std::string& what) {
  std::memset(dst, 0, record.raw_bytes);  // padding and reserved bytes are zero
  put_u64(dst, record.id);
  put_f64(dst + 8, record.time);
  put_u32(dst + 16, uint32_t(record.blocks.size()));
  size_t at = kRecordHeaderBytes + record.blocks.size() * kBlockEntryBytes;
  for (size_t i = 0; i < record.blocks.size(); i++) {
    const Block& b = record.blocks[i];
    uint8_t* e = dst + kRecordHeaderBytes + i * kBlockEntryBytes;
    e[0] = uint8_t(Codec::Raw);
    e[1] = b.elem_size;
    put_u32(e + 4, b.raw_len);
    put_u32(e + 8, b.raw_len);
    at = align8(at);
    // The frame checksum already covers the stored bytes: no second hash.
    decoder.decode(b.codec, b.data, b.stored_len, dst + at, b.raw_len, b.elem_size, 0, false,
                   what + " block " + std::to_string(i));
    at += b.raw_len;
  }
}

FrameScan scan_frames(const uint8_t* data, size_t len, uint64_t base) {
  FrameScan scan;
  size_t off = 0;
  auto next_intact = [&](size_t from, uint32_t* n) {
    // Resynchronise: the next offset holding an intact frame, or len.
    for (size_t at = from; at + kFrameHeaderBytes <= len; at++) {
      const void* hit = std::memchr(data + at, 'T', len - kFrameHeaderBytes + 1 - at);
      if (!hit) break;
      at = size_t(static_cast<const uint8_t*>(hit) - data);
      if (intact_frame(data + at, len - at, n)) return at;
    }
    return len;
  };
  while (off < len) {
    uint32_t n = 0;
    if (!intact_frame(data + off, len - off, &n)) {
      std::string problem = frame_problem(data + off, len - off);
      size_t next = next_intact(off + 1, &n);
      if (next == len) {
        scan.tail = problem;
        break;
      }
      scan.damages.push_back({base + off, next - off, problem});
      off = next;
    }
    const uint8_t* payload = data + off + kFrameHeaderBytes;
    scan.frames.push_back({base + off, kFrameHeaderBytes + n, get_u64(payload), get_f64(payload + 8)});
    off += kFrameHeaderBytes + n;
  }
  scan.good_end = base + off;
  return scan;
}

}  // namespace tk::episodes
