// The episode log's bytes (episode_format.h): segment header, record frames,
// record payloads.
#include "episode_format.h"

#include <zstd.h>

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

bool codec_from_byte(uint8_t b, Codec* out) {  // the byte is the enum value: 0 raw, 1 zstd, 2 shuffle+zstd
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
  r.head_len = get_u32(data + 16);
  r.schema_len = get_u32(data + 20);
  const uint32_t count = get_u32(data + 24);
  if (!codec_from_byte(data[28], &r.codec))
    throw Error(ErrorCode::Version, what + ": unknown codec " + std::to_string(data[28]) + " (written by a newer tensorkeep?)");
  if ((data[29] | data[30] | data[31]) != 0 || get_u32(data + 36) != 0) throw Error(ErrorCode::Version, what + ": unknown record flags");
  r.data_len = get_u32(data + 32);
  if (count > kMaxBlocks) throw corrupt("block count " + std::to_string(count) + " over the limit of " + std::to_string(kMaxBlocks));
  const size_t head_at = kRecordHeaderBytes + size_t(count) * kBlockEntryBytes;
  if (head_at > len || r.head_len > len - head_at || r.schema_len > len - head_at - r.head_len)
    throw corrupt("block table, head and schema run past the record");
  r.head = data + head_at;
  r.schema = r.head + r.head_len;
  size_t at = head_at + r.head_len + r.schema_len;  // where this form's next byte goes
  size_t raw_at = align8(at);           // the same in raw form
  r.blocks.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* e = data + kRecordHeaderBytes + size_t(i) * kBlockEntryBytes;
    Block b;
    b.elem_size = e[0];
    if (b.elem_size != 1 && b.elem_size != 2 && b.elem_size != 4 && b.elem_size != 8)
      throw corrupt("block " + std::to_string(i) + " has element size " + std::to_string(b.elem_size));
    if ((e[1] | e[2] | e[3]) != 0) throw corrupt("block " + std::to_string(i) + " has non-zero reserved bytes");
    b.raw_len = get_u32(e + 4);
    r.data_raw_len += b.raw_len;
    raw_at = align8(raw_at) + b.raw_len;
    if (raw_at > kMaxPayloadBytes) throw corrupt("record decodes to more than " + std::to_string(kMaxPayloadBytes) + " bytes");
    if (raw_form) {
      at = align8(at);
      if (at > len || b.raw_len > len - at) throw corrupt("block " + std::to_string(i) + " runs past the record");
      b.raw = data + at;
      at += b.raw_len;
    }
    r.blocks.push_back(b);
  }
  r.raw_bytes = align8(raw_at);
  if (raw_form) {
    if (r.codec != Codec::Raw || r.data_len != r.data_raw_len) throw corrupt("raw-form record with an encoded data section");
    r.bytes = align8(at);
    if (r.bytes > len) throw corrupt("record of " + std::to_string(r.bytes) + " bytes runs past the batch");
    return r;
  }
  bool compressed = r.codec != Codec::Raw;
  if (compressed ? (r.data_len == 0 || r.data_len >= r.data_raw_len) : r.data_len != r.data_raw_len)
    throw corrupt(std::string(codec_name(r.codec)) + " data section of " + std::to_string(r.data_len) + " bytes for " +
                  std::to_string(r.data_raw_len) + " raw bytes");
  r.data = data + at;
  r.bytes = at + r.data_len;
  if (r.bytes != len)
    throw corrupt("record holds " + std::to_string(len) + " bytes, its head, schema and data account for " + std::to_string(r.bytes));
  return r;
}

namespace {
void write_header(uint8_t* p, const Record& r, Codec codec, uint32_t data_len) {
  put_u64(p, r.id);
  put_f64(p + 8, r.time);
  put_u32(p + 16, r.head_len);
  put_u32(p + 20, r.schema_len);
  put_u32(p + 24, uint32_t(r.blocks.size()));
  p[28] = uint8_t(codec);
  p[29] = p[30] = p[31] = 0;
  put_u32(p + 32, data_len);
  put_u32(p + 36, 0);
  for (size_t i = 0; i < r.blocks.size(); i++) {
    uint8_t* e = p + kRecordHeaderBytes + i * kBlockEntryBytes;
    e[0] = r.blocks[i].elem_size;
    e[1] = e[2] = e[3] = 0;
    put_u32(e + 4, r.blocks[i].raw_len);
  }
}
}  // namespace

struct RecordEncoder::State {
  int level;
  ZSTD_CCtx* cctx = nullptr;
  FrameBytes gathered;
};

RecordEncoder::RecordEncoder(int level) : s_(new State()) {
  s_->level = level;
  s_->cctx = ZSTD_createCCtx();
  if (!s_->cctx) throw std::bad_alloc();
}

RecordEncoder::~RecordEncoder() { ZSTD_freeCCtx(s_->cctx); }

void RecordEncoder::encode(const Record& record, Codec want, FrameBytes& out) {
  const size_t frame_at = out.size();
  const size_t head_at = kRecordHeaderBytes + record.blocks.size() * kBlockEntryBytes;
  const size_t text_len = size_t(record.head_len) + record.schema_len;  // head and schema, adjacent in both forms
  const size_t data_at = frame_at + kFrameHeaderBytes + head_at + text_len;
  const size_t raw_len = size_t(record.data_raw_len);
  Codec codec = Codec::Raw;
  size_t data_len = raw_len;
  out.resize(data_at + raw_len);
  if (want != Codec::Raw && raw_len > 0) {
    // The blocks back to back, each shuffled by its own element size, then
    // one zstd frame: one compressor call per record, not per column.
    FrameBytes& g = s_->gathered;
    g.resize(raw_len);
    size_t at = 0;
    for (const Block& b : record.blocks) {
      if (want == Codec::ShuffleZstd && b.elem_size > 1) shuffle_bytes(b.raw, g.data() + at, b.raw_len, b.elem_size);
      else if (b.raw_len) std::memcpy(g.data() + at, b.raw, b.raw_len);
      at += b.raw_len;
    }
    // Capacity raw_len - 1: zstd fails fast when it would not shrink the data.
    size_t n = ZSTD_compressCCtx(s_->cctx, out.data() + data_at, raw_len - 1, g.data(), raw_len, s_->level);
    if (!ZSTD_isError(n)) codec = want, data_len = n;
  }
  if (codec == Codec::Raw) {
    size_t at = data_at;
    for (const Block& b : record.blocks) {
      if (b.raw_len) std::memcpy(out.data() + at, b.raw, b.raw_len);
      at += b.raw_len;
    }
  }
  out.resize(data_at + data_len);
  uint8_t* payload = out.data() + frame_at + kFrameHeaderBytes;
  write_header(payload, record, codec, uint32_t(data_len));
  if (text_len) std::memcpy(payload + head_at, record.head, text_len);
  const size_t payload_len = out.size() - frame_at - kFrameHeaderBytes;
  uint8_t* frame = out.data() + frame_at;
  put_u32(frame, kFrameMagic);
  put_u32(frame + 4, uint32_t(payload_len));
  put_u64(frame + 8, xxh3_64(payload, payload_len));
}

struct RecordDecoder::State {
  ZSTD_DCtx* dctx = nullptr;
  std::vector<uint8_t> data;
};

RecordDecoder::RecordDecoder() : s_(new State()) {
  s_->dctx = ZSTD_createDCtx();
  if (!s_->dctx) throw std::bad_alloc();
}

RecordDecoder::~RecordDecoder() { ZSTD_freeDCtx(s_->dctx); }

void RecordDecoder::decode(const Record& record, uint8_t* dst, const std::string& what) {
  const uint8_t* data = record.data;
  const size_t raw_len = size_t(record.data_raw_len);
  if (record.codec != Codec::Raw) {
    s_->data.resize(raw_len);
    size_t n = ZSTD_decompressDCtx(s_->dctx, s_->data.data(), raw_len, record.data, record.data_len);
    if (ZSTD_isError(n)) throw Error(ErrorCode::Corrupt, what + ": zstd data does not decode (" + ZSTD_getErrorName(n) + ")");
    if (n != raw_len)
      throw Error(ErrorCode::Corrupt, what + ": data decodes to " + std::to_string(n) + " bytes, the blocks need " +
                                          std::to_string(raw_len));
    data = s_->data.data();
  }
  const size_t head_at = kRecordHeaderBytes + record.blocks.size() * kBlockEntryBytes;
  write_header(dst, record, Codec::Raw, uint32_t(raw_len));
  const size_t text_len = size_t(record.head_len) + record.schema_len;
  if (text_len) std::memcpy(dst + head_at, record.head, text_len);
  size_t at = head_at + text_len;
  // Every byte is written once: the padding as zeros, the rest decoded.
  auto pad_to = [&](size_t end) {
    std::memset(dst + at, 0, end - at);
    at = end;
  };
  for (const Block& b : record.blocks) {
    pad_to(align8(at));
    if (record.codec == Codec::ShuffleZstd && b.elem_size > 1) unshuffle_bytes(data, dst + at, b.raw_len, b.elem_size);
    else if (b.raw_len) std::memcpy(dst + at, data, b.raw_len);
    data += b.raw_len;
    at += b.raw_len;
  }
  pad_to(record.raw_bytes);
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
