// core/episode_*: the segment header, record encode/decode in both forms,
// group-commit appends with rollback on injected faults, recovery scans of
// torn tails and damaged middles, range reads, and hostile bytes that must
// be reported, never crash.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "codec.h"
#include "endian.h"
#include "episode_format.h"
#include "episode_reader.h"
#include "episode_writer.h"
#include "syscall_seam.h"
#include "test_util.h"

using tk::ErrorCode;
namespace ep = tk::episodes;
namespace sys = tk::sys;

static void arm(const char* spec) {
  sys::FaultPlan plan;
  std::string err;
  if (!sys::parse_fault_plan(spec, &plan, &err)) tkt::fail(__FILE__, __LINE__, "bad plan: " + err);
  sys::set_fault_plan(plan);
}

// A raw-form record: header, table, head, then each block 8-aligned.
struct RawBlock {
  uint8_t elem;
  std::vector<uint8_t> bytes;
};

static void append_raw(std::vector<uint8_t>& batch, uint64_t id, double time, const std::string& head,
                       const std::vector<RawBlock>& blocks) {
  size_t start = batch.size();
  const std::string schema = "[" + std::to_string(blocks.size()) + "]";
  size_t at = ep::kRecordHeaderBytes + blocks.size() * ep::kBlockEntryBytes + head.size() + schema.size();
  uint32_t data_len = 0;
  std::vector<size_t> where;
  for (const RawBlock& b : blocks) {
    at = ep::align8(at);
    where.push_back(at);
    at += b.bytes.size();
    data_len += uint32_t(b.bytes.size());
  }
  batch.resize(start + ep::align8(at), 0);
  uint8_t* r = batch.data() + start;
  tk::put_u64(r, id);
  uint64_t bits;
  std::memcpy(&bits, &time, 8);
  tk::put_u64(r + 8, bits);
  tk::put_u32(r + 16, uint32_t(head.size()));
  tk::put_u32(r + 20, uint32_t(schema.size()));
  tk::put_u32(r + 24, uint32_t(blocks.size()));
  tk::put_u32(r + 32, data_len);
  std::memcpy(r + ep::kRecordHeaderBytes + blocks.size() * ep::kBlockEntryBytes, (head + schema).data(), head.size() + schema.size());
  for (size_t i = 0; i < blocks.size(); i++) {
    uint8_t* e = r + ep::kRecordHeaderBytes + i * ep::kBlockEntryBytes;
    e[0] = blocks[i].elem;
    tk::put_u32(e + 4, uint32_t(blocks[i].bytes.size()));
    if (!blocks[i].bytes.empty()) std::memcpy(r + where[i], blocks[i].bytes.data(), blocks[i].bytes.size());
  }
}

// Record i of the test batches: compressible and random blocks of varying size.
static std::vector<uint8_t> batch_of(uint64_t first_id, size_t count, std::vector<std::vector<uint8_t>>* raw_records = nullptr) {
  std::vector<uint8_t> batch;
  for (size_t i = 0; i < count; i++) {
    size_t start = batch.size();
    uint64_t id = first_id + i;
    append_raw(batch, id, 1000.0 + double(id), "{\"model\":\"m" + std::to_string(id % 3) + "\"}",
               {{8, tkt::compressible_bytes(512 + 64 * (id % 5))}, {4, tkt::random_bytes(100 + id, id)}, {1, {}}});
    if (raw_records) raw_records->emplace_back(batch.begin() + long(start), batch.end());
  }
  return batch;
}

static std::string new_segment(const tkt::TempDir& dir, const std::string& name, uint64_t seq, uint64_t first_id) {
  std::string path = dir / name;
  ep::EpisodeWriter::create_segment(path, {seq, first_id, 1.5e12});
  return path;
}

static void test_header() {
  uint8_t h[ep::kSegmentHeaderBytes];
  ep::encode_segment_header({7, 42, 1.25e12}, h);
  ep::SegmentHeader back = ep::parse_segment_header(h, sizeof(h), "seg");
  CHECK(back.seq == 7 && back.first_id == 42 && back.created_ms == 1.25e12);
  CHECK_THROWS_CODE(ep::parse_segment_header(h, 63, "seg"), ErrorCode::Corrupt, "63 of 64");
  uint8_t flipped[ep::kSegmentHeaderBytes];
  std::memcpy(flipped, h, sizeof(h));
  flipped[20] ^= 1;
  CHECK_THROWS_CODE(ep::parse_segment_header(flipped, sizeof(h), "seg"), ErrorCode::Corrupt, "checksum");
  // An intact header of another version is E_VERSION, naming the version.
  std::memcpy(flipped, h, sizeof(h));
  tk::put_u32(flipped + 8, 9);
  tk::put_u64(flipped + 56, tk::xxh3_64(flipped, 56));
  CHECK_THROWS_CODE(ep::parse_segment_header(flipped, sizeof(h), "seg"), ErrorCode::Version, "version 9");
}

static void test_record_round_trip() {
  std::vector<std::vector<uint8_t>> raw;
  std::vector<uint8_t> batch = batch_of(1, 6, &raw);
  ep::RecordEncoder encoder(1);
  ep::RecordDecoder decoder;
  size_t at = 0;
  for (size_t i = 0; i < raw.size(); i++) {
    ep::Record r = ep::parse_record(batch.data() + at, batch.size() - at, true, "raw");
    CHECK(r.id == i + 1 && r.blocks.size() == 3 && r.bytes == raw[i].size() && r.raw_bytes == raw[i].size());
    CHECK(std::string(reinterpret_cast<const char*>(r.head), r.head_len) == "{\"model\":\"m" + std::to_string((i + 1) % 3) + "\"}");
    CHECK(std::string(reinterpret_cast<const char*>(r.schema), r.schema_len) == "[3]");
    at += r.bytes;
    for (tk::Codec want : {tk::Codec::Raw, tk::Codec::Zstd, tk::Codec::ShuffleZstd}) {
      ep::FrameBytes frame;
      encoder.encode(r, want, frame);
      CHECK(tk::get_u32(frame.data()) == ep::kFrameMagic && tk::get_u32(frame.data() + 4) == frame.size() - 16);
      ep::Record stored = ep::parse_record(frame.data() + 16, frame.size() - 16, false, "stored");
      CHECK(stored.codec == want);  // the compressible block makes the whole section shrink
      if (want == tk::Codec::ShuffleZstd) CHECK(stored.data_len < stored.data_raw_len);
      std::vector<uint8_t> back(stored.raw_bytes);
      decoder.decode(stored, back.data(), "stored");
      CHECK(back == raw[i]);
    }
  }
  CHECK(at == batch.size());
  // Data that does not shrink is stored raw whatever was asked for.
  std::vector<uint8_t> noise;
  append_raw(noise, 1, 0, "{}", {{4, tkt::random_bytes(4096, 3)}});
  ep::Record r = ep::parse_record(noise.data(), noise.size(), true, "raw");
  ep::FrameBytes frame;
  encoder.encode(r, tk::Codec::ShuffleZstd, frame);
  CHECK(ep::parse_record(frame.data() + 16, frame.size() - 16, false, "stored").codec == tk::Codec::Raw);
}

static void test_hostile_records() {
  std::vector<uint8_t> batch = batch_of(1, 1);
  ep::RecordEncoder encoder(1);
  ep::Record r = ep::parse_record(batch.data(), batch.size(), true, "raw");
  ep::FrameBytes frame;
  encoder.encode(r, tk::Codec::ShuffleZstd, frame);
  std::vector<uint8_t> payload(frame.begin() + 16, frame.end());
  CHECK_THROWS_CODE(ep::parse_record(payload.data(), 10, false, "rec"), ErrorCode::Corrupt, "shorter than its header");
  std::vector<uint8_t> bad = payload;
  tk::put_u32(bad.data() + 24, 1u << 20);
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Corrupt, "over the limit");
  bad = payload;
  bad[28] = 9;  // codec
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Version, "unknown codec 9");
  bad = payload;
  bad[40] = 3;  // element size of block 0
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Corrupt, "element size 3");
  bad = payload;
  tk::put_u32(bad.data() + 40 + 8 + 4, 0xfffffff0u);  // raw_len of block 1
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Corrupt, "rec");
  bad = payload;
  tk::put_u32(bad.data() + 16, 0xffffff00u);  // head_len
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Corrupt, "run past");
  bad = payload;
  tk::put_u32(bad.data() + 20, 0xffffff00u);  // schema_len
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Corrupt, "run past");
  bad = payload;
  bad[37] = 1;  // reserved
  CHECK_THROWS_CODE(ep::parse_record(bad.data(), bad.size(), false, "rec"), ErrorCode::Version, "flags");
  // Every truncation and every single-byte change of a stored record either
  // parses and decodes or throws a coded error.
  ep::RecordDecoder decoder;
  for (size_t cut = 0; cut < payload.size(); cut += 7)
    CHECK_THROWS_CODE(ep::parse_record(payload.data(), cut, false, "rec"), ErrorCode::Corrupt, "rec");
  size_t survived = 0;
  for (size_t i = 0; i < payload.size(); i++) {
    bad = payload;
    bad[i] ^= 0x5a;
    try {
      ep::Record p = ep::parse_record(bad.data(), bad.size(), false, "rec");
      std::vector<uint8_t> out(p.raw_bytes);
      decoder.decode(p, out.data(), "rec");
      survived++;
    } catch (const tk::Error&) {
    }
  }
  CHECK(survived > 0);  // flips in the head or the id decode to other bytes: the frame checksum is what catches them
}

static void test_commit_and_scan() {
  tkt::TempDir dir;
  std::string path = new_segment(dir, "00000001.tkeps", 1, 1);
  std::vector<ep::WrittenRecord> all;
  {
    ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
    for (uint64_t first : {1, 5, 9}) {
      std::vector<uint8_t> batch = batch_of(first, 4);
      auto written = w.commit({}, {{batch.data(), batch.size(), 4}}, tk::Codec::ShuffleZstd);
      all.insert(all.end(), written.begin(), written.end());
    }
    CHECK(w.size() == tkt::read_file(path).size());
  }
  ep::SegmentScan scan = ep::scan_segment(path);
  CHECK(scan.header_ok && scan.header.seq == 1 && scan.header.first_id == 1);
  CHECK(scan.records.size() == 12 && scan.damages.empty() && scan.tail.empty() && scan.good_end == scan.file_bytes);
  for (size_t i = 0; i < scan.records.size(); i++) {
    CHECK(scan.records[i].frame.id == i + 1 && scan.records[i].frame.time == 1001.0 + double(i));
    CHECK(scan.records[i].frame.offset == all[i].offset && scan.records[i].frame.frame_bytes == all[i].frame_bytes);
    CHECK(scan.records[i].head == "{\"model\":\"m" + std::to_string((i + 1) % 3) + "\"}");
  }
  // A range read of records 3..6 returns exactly their raw forms.
  std::vector<std::vector<uint8_t>> raw;
  batch_of(1, 12, &raw);
  uint64_t from = all[2].offset, to = all[5].offset + all[5].frame_bytes;
  ep::RangeRead read = ep::read_range(path, from, to - from);
  CHECK(read.damages.empty() && read.starts.size() == 4);
  for (size_t i = 0; i < read.starts.size(); i++)
    CHECK(std::vector<uint8_t>(read.out.begin() + long(read.starts[i]), read.out.begin() + long(read.starts[i] + raw[i + 2].size())) == raw[i + 2]);
  // Reopening for append continues after the last frame.
  ep::EpisodeWriter again(path, scan.file_bytes, 1);
  std::vector<uint8_t> batch = batch_of(13, 1);
  again.commit({}, {{batch.data(), batch.size(), 1}}, tk::Codec::Zstd);
  CHECK(ep::scan_segment(path).records.size() == 13);
  CHECK_THROWS_CODE(ep::EpisodeWriter(path, 64, 1), ErrorCode::BadInput, "cut the damaged tail first");
}

static void test_parallel_commit() {
  // A batch of several MiB, in two chunks, is encoded on more than one
  // thread and written piece by piece; the frames land in record order,
  // where commit() says, and decode to the records.
  tkt::TempDir dir;
  std::string path = new_segment(dir, "s", 1, 1);
  ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
  std::vector<uint8_t> batch;
  std::vector<std::vector<uint8_t>> raw;
  size_t split = 0;  // where the second chunk starts
  for (uint64_t id = 1; id <= 48; id++) {
    size_t start = batch.size();
    if (id == 20) split = start;
    append_raw(batch, id, double(id), "{}", {{4, tkt::compressible_bytes(48 << 10)}, {8, tkt::random_bytes(16 << 10, id)}});
    raw.emplace_back(batch.begin() + long(start), batch.end());
  }
  auto written = w.commit({}, {{batch.data(), split, 19}, {batch.data() + split, batch.size() - split, raw.size() - 19}}, tk::Codec::ShuffleZstd);
  CHECK(written.size() == raw.size() && written[0].offset == ep::kSegmentHeaderBytes);
  for (size_t i = 1; i < written.size(); i++) CHECK(written[i].offset == written[i - 1].offset + written[i - 1].frame_bytes);
  CHECK(w.size() == written.back().offset + written.back().frame_bytes && w.size() == tkt::read_file(path).size());
  ep::RangeRead read = ep::read_range(path, ep::kSegmentHeaderBytes, w.size() - ep::kSegmentHeaderBytes);
  CHECK(read.damages.empty() && read.starts.size() == raw.size());
  for (size_t i = 0; i < raw.size(); i++)
    CHECK(std::vector<uint8_t>(read.out.begin() + long(read.starts[i]), read.out.begin() + long(read.starts[i] + raw[i].size())) == raw[i]);
  // The same records again, the first 19 encoded ahead: the frames follow
  // the first commit's, in record order, byte for byte the same.
  auto ahead = std::make_shared<const ep::EncodedBatch>(ep::encode_ahead({{batch.data(), split, 19}}, tk::Codec::ShuffleZstd, 1));
  const uint64_t before = w.size();
  auto again = w.commit({ahead}, {{batch.data() + split, batch.size() - split, raw.size() - 19}}, tk::Codec::ShuffleZstd);
  CHECK(again.size() == written.size() && again[0].offset == before && w.size() == before + (before - ep::kSegmentHeaderBytes));
  for (size_t i = 0; i < again.size(); i++) CHECK(again[i].offset == written[i].offset + (before - ep::kSegmentHeaderBytes) && again[i].frame_bytes == written[i].frame_bytes);
  std::string file = tkt::read_file(path);
  CHECK(std::equal(file.begin() + long(ep::kSegmentHeaderBytes), file.begin() + long(before), file.begin() + long(before)));
  // One schema ("[2]") throughout: one schema number.
  CHECK(read.schemas.size() == raw.size() && std::all_of(read.schemas.begin(), read.schemas.end(), [](uint32_t n) { return n == 0; }));
}

static void test_torn_tail_every_cut() {
  tkt::TempDir dir;
  std::string path = new_segment(dir, "s", 1, 1);
  ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
  std::vector<uint8_t> batch = batch_of(1, 3);
  auto written = w.commit({}, {{batch.data(), batch.size(), 3}}, tk::Codec::ShuffleZstd);
  const std::string bytes = tkt::read_file(path);
  const uint64_t last = written[2].offset;
  for (uint64_t cut = last + 1; cut < bytes.size(); cut++) {
    tkt::write_file(path, bytes.substr(0, cut));
    ep::SegmentScan scan = ep::scan_segment(path);
    CHECK(scan.records.size() == 2 && scan.damages.empty() && scan.good_end == last && !scan.tail.empty());
  }
}

static void test_damaged_middle() {
  tkt::TempDir dir;
  std::string path = new_segment(dir, "s", 1, 1);
  ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
  std::vector<uint8_t> batch = batch_of(1, 5);
  auto written = w.commit({}, {{batch.data(), batch.size(), 5}}, tk::Codec::ShuffleZstd);
  const std::string clean = tkt::read_file(path);
  // One flipped bit in each part of record 3 (magic, length, checksum, payload): only it is lost.
  for (uint64_t within : std::vector<uint64_t>{0, 5, 9, 40, written[2].frame_bytes - 1}) {
    std::string bytes = clean;
    bytes[written[2].offset + within] ^= 0x10;
    tkt::write_file(path, bytes);
    ep::SegmentScan scan = ep::scan_segment(path);
    CHECK(scan.records.size() == 4 && scan.tail.empty() && scan.good_end == clean.size());
    CHECK(scan.damages.size() == 1 && scan.damages[0].offset == written[2].offset &&
          scan.damages[0].bytes == written[2].frame_bytes);
    ep::RangeRead read = ep::read_range(path, written[0].offset, clean.size() - written[0].offset);
    CHECK(read.starts.size() == 4 && read.damages.size() == 1);
  }
  // Zeroed bytes spanning two records: both lost, the rest readable.
  std::string bytes = clean;
  for (uint64_t i = written[1].offset + 20; i < written[2].offset + 30; i++) bytes[i] = 0;
  tkt::write_file(path, bytes);
  ep::SegmentScan scan = ep::scan_segment(path);
  CHECK(scan.records.size() == 3 && scan.damages.size() == 1 && scan.damages[0].offset == written[1].offset);
  // A damaged header is reported; the frames are still found.
  bytes = clean;
  bytes[17] ^= 1;
  tkt::write_file(path, bytes);
  scan = ep::scan_segment(path);
  CHECK(!scan.header_ok && tkt::contains(scan.header_problem, "checksum") && scan.records.size() == 5);
}

static void test_faults_roll_back() {
  tkt::TempDir dir;
  std::string path = new_segment(dir, "s", 1, 1);
  ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
  std::vector<uint8_t> batch = batch_of(1, 2);
  w.commit({}, {{batch.data(), batch.size(), 2}}, tk::Codec::ShuffleZstd);
  const uint64_t good = w.size();
  for (const char* plan : {"op=pwrite,fail_at=1,errno=ENOSPC", "op=fsync,fail_at=1,errno=EIO"}) {
    arm(plan);
    std::vector<uint8_t> more = batch_of(3, 2);
    CHECK_THROWS_CODE(w.commit({}, {{more.data(), more.size(), 2}}, tk::Codec::ShuffleZstd),
                      plan[3] == 'p' ? ErrorCode::NoSpace : ErrorCode::Io, path);
    sys::clear_fault_plan();
    CHECK(w.size() == good && tkt::read_file(path).size() == good && !w.broken());
  }
  // The writer keeps working after the failures.
  std::vector<uint8_t> more = batch_of(3, 2);
  w.commit({}, {{more.data(), more.size(), 2}}, tk::Codec::ShuffleZstd);
  CHECK(ep::scan_segment(path).records.size() == 4);
  // When even the cut-back fails the writer refuses further commits.
  arm("fail_at=1,sticky,errno=EIO");
  CHECK_THROWS_CODE(w.commit({}, {{more.data(), more.size(), 2}}, tk::Codec::ShuffleZstd), ErrorCode::Io, path);
  sys::clear_fault_plan();
  CHECK(w.broken());
  CHECK_THROWS_CODE(w.commit({}, {{more.data(), more.size(), 2}}, tk::Codec::ShuffleZstd), ErrorCode::Io, "new segment");
}

static void test_roll() {
  tkt::TempDir dir;
  std::string first = new_segment(dir, "00000001.tkeps", 1, 1);
  ep::EpisodeWriter w(first, ep::kSegmentHeaderBytes, 1);
  std::vector<uint8_t> batch = batch_of(1, 2);
  w.commit({}, {{batch.data(), batch.size(), 2}}, tk::Codec::Raw);
  ep::Roll roll{dir / "00000001.tkidx", "index bytes", dir / "00000002.tkeps", {2, 3, 2e12}};
  arm("op=rename,fail_at=1");
  CHECK_THROWS_CODE(w.roll(roll), ErrorCode::Io, "rename");
  sys::clear_fault_plan();
  CHECK(w.path() == first && !tkt::exists(roll.segment_path));
  arm("op=mkdir,fail_at=99");  // counts nothing: a plain successful roll
  w.roll(roll);
  sys::clear_fault_plan();
  CHECK(w.path() == roll.segment_path && w.size() == ep::kSegmentHeaderBytes);
  CHECK(tkt::read_file(roll.index_path) == "index bytes");
  batch = batch_of(3, 1);
  auto written = w.commit({}, {{batch.data(), batch.size(), 1}}, tk::Codec::Raw);
  CHECK(written[0].offset == ep::kSegmentHeaderBytes);
  ep::SegmentScan scan = ep::scan_segment(roll.segment_path);
  CHECK(scan.header.seq == 2 && scan.header.first_id == 3 && scan.records.size() == 1 && scan.records[0].frame.id == 3);
}

static void test_hostile_segments() {
  tkt::TempDir dir;
  std::string path = new_segment(dir, "s", 1, 1);
  {
    ep::EpisodeWriter w(path, ep::kSegmentHeaderBytes, 1);
    std::vector<uint8_t> batch = batch_of(1, 4);
    w.commit({}, {{batch.data(), batch.size(), 4}}, tk::Codec::ShuffleZstd);
  }
  const std::string clean = tkt::read_file(path);
  // Random damage anywhere: scans and range reads report, never crash.
  std::vector<uint8_t> noise = tkt::random_bytes(4096, 99);
  for (size_t trial = 0; trial < 300; trial++) {
    std::string bytes = clean;
    size_t at = 64 + noise[trial % noise.size()] * (clean.size() - 64) / 256;
    size_t n = 1 + noise[(trial * 7) % noise.size()] % 64;
    for (size_t i = 0; i < n && at + i < bytes.size(); i++) bytes[at + i] = char(noise[(trial + i) % noise.size()]);
    tkt::write_file(path, bytes);
    ep::SegmentScan scan = ep::scan_segment(path);
    CHECK(scan.records.size() <= 4);
    ep::RangeRead read = ep::read_range(path, 0, bytes.size() + 100);
    CHECK(read.starts.size() <= 4 && !read.damages.empty());
  }
  // A frame whose checksum matches but whose record is nonsense is damage too.
  tkt::write_file(path, clean.substr(0, 64));
  std::string payload(48, '\0');
  tk::put_u32(reinterpret_cast<uint8_t*>(payload.data()) + 24, 5);  // 5 blocks, no table
  std::string frame(16, '\0');
  tk::put_u32(reinterpret_cast<uint8_t*>(frame.data()), ep::kFrameMagic);
  tk::put_u32(reinterpret_cast<uint8_t*>(frame.data()) + 4, uint32_t(payload.size()));
  tk::put_u64(reinterpret_cast<uint8_t*>(frame.data()) + 8, tk::xxh3_64(payload.data(), payload.size()));
  tkt::write_file(path, clean.substr(0, 64) + frame + payload);
  ep::SegmentScan scan = ep::scan_segment(path);
  CHECK(scan.records.empty() && scan.damages.size() == 1 && tkt::contains(scan.damages[0].problem, "run past"));
  CHECK(ep::read_range(path, 64, 64).damages.size() == 1);
  // Missing file: NotFound; short file: a header problem, no records.
  CHECK_THROWS_CODE(ep::scan_segment(dir / "nope"), ErrorCode::NotFound, "nope");
  tkt::write_file(path, "TKEP");
  scan = ep::scan_segment(path);
  CHECK(!scan.header_ok && scan.records.empty() && scan.good_end == 0);
}

int main() {
  return tkt::run("episode_test", {test_header, test_record_round_trip, test_hostile_records, test_commit_and_scan,
                                    test_parallel_commit, test_torn_tail_every_cut, test_damaged_middle, test_faults_roll_back, test_roll,
                                    test_hostile_segments});
}
