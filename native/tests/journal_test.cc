// core/journal and core/store_ops: frame round trips, a torn tail at every
// cut, checksum and length damage, appends failed through the syscall seam
// (rolled back, never a partial frame), and the idempotent directory ops.
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "codec.h"
#include "file_io.h"
#include "journal.h"
#include "store_ops.h"
#include "syscall_seam.h"
#include "test_util.h"

using tk::ErrorCode;
namespace sys = tk::sys;
using Records = std::vector<std::string>;

static void arm(const char* spec) {
  sys::FaultPlan plan;
  std::string err;
  if (!sys::parse_fault_plan(spec, &plan, &err)) tkt::fail(__FILE__, __LINE__, "bad plan: " + err);
  sys::set_fault_plan(plan);
}

static void append_all(const std::string& path, const Records& records) {
  tk::JournalWriter w(path);
  for (const std::string& r : records) w.append(r.data(), r.size(), true);
}

static std::vector<sys::Op> traced_ops() {
  std::vector<sys::Op> ops;
  for (const sys::TraceEntry& e : sys::take_trace()) ops.push_back(e.op);
  return ops;
}

// Three records: small JSON, empty, and binary with NUL bytes.
static const Records kThree = {R"({"kind":"commit","seq":1})", "",
                               std::string("\0\x01\xff", 3) + std::string(300, 'x')};

static void test_round_trip() {
  tkt::TempDir dir;
  const std::string path = dir / "journal";
  {
    tk::JournalWriter w(path);
    CHECK(w.size() == 0);
    for (size_t i = 0; i < kThree.size(); i++) w.append(kThree[i].data(), kThree[i].size(), i % 2 == 0);
    w.sync();
    CHECK(w.size() == 3 * tk::kJournalHeaderBytes + kThree[0].size() + kThree[2].size());
    CHECK(w.size() == tkt::read_file(path).size());
  }
  tk::JournalScan scan = tk::scan_journal(path);
  CHECK(scan.records == kThree && scan.problem.empty());
  CHECK(scan.valid_bytes == scan.file_bytes && scan.file_bytes == tkt::read_file(path).size());
  CHECK((scan.offsets == std::vector<uint64_t>{0, 12 + kThree[0].size(), 24 + kThree[0].size()}));

  // The frame layout, byte by byte: u32 len LE, u64 xxh3 LE, payload.
  const std::string bytes = tkt::read_file(path);
  const uint64_t hash = tk::xxh3_64(kThree[0].data(), kThree[0].size());
  bool header_ok = uint8_t(bytes[0]) == kThree[0].size() && bytes[1] == 0 && bytes[2] == 0 && bytes[3] == 0;
  for (int i = 0; i < 8; i++) header_ok &= uint8_t(bytes[4 + i]) == uint8_t(hash >> (8 * i));
  CHECK(header_ok && bytes.compare(12, kThree[0].size(), kThree[0]) == 0);

  // Reopening appends after what is there, and does not sync the directory
  // again (only an empty, possibly new, journal needs that).
  sys::FaultPlan trace;
  trace.trace = true;
  sys::set_fault_plan(trace);
  {
    tk::JournalWriter w(path);
    CHECK(w.size() == bytes.size());
    w.append("more", 4, false);
  }
  std::vector<sys::Op> ops = traced_ops();
  sys::clear_fault_plan();
  CHECK((ops == std::vector<sys::Op>{sys::Op::Open, sys::Op::Fstat, sys::Op::Pwrite, sys::Op::Close}));
  scan = tk::scan_journal(path);
  CHECK(scan.records.size() == 4 && scan.records[3] == "more" && scan.problem.empty());

  // A new journal (the open of an existing one fails first): its directory
  // entry is made durable at open.
  sys::set_fault_plan(trace);
  { tk::JournalWriter w(dir / "fresh"); }
  ops = traced_ops();
  sys::clear_fault_plan();
  CHECK((ops == std::vector<sys::Op>{sys::Op::Open, sys::Op::Open, sys::Op::Fstat, sys::Op::Open, sys::Op::Fsync,
                                     sys::Op::Close, sys::Op::Close}));
}

static void test_missing_and_empty() {
  tkt::TempDir dir;
  tk::JournalScan scan = tk::scan_journal(dir / "nope");
  CHECK(scan.records.empty() && scan.file_bytes == 0 && scan.valid_bytes == 0 && scan.problem.empty());
  tkt::write_file(dir / "empty", "");
  scan = tk::scan_journal(dir / "empty");
  CHECK(scan.records.empty() && scan.file_bytes == 0 && scan.problem.empty());
}

static void test_torn_tail_at_every_cut() {
  tkt::TempDir dir;
  append_all(dir / "full", kThree);
  const std::string full = tkt::read_file(dir / "full");
  const std::vector<uint64_t> ends = {12 + kThree[0].size(), 24 + kThree[0].size(), full.size()};
  std::string first_bad;
  for (size_t cut = 0; cut <= full.size(); cut++) {
    const std::string path = dir / "cut";
    tkt::write_file(path, full.substr(0, cut));
    tk::JournalScan scan = tk::scan_journal(path);
    size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) whole++;
    const uint64_t valid = whole == 0 ? 0 : ends[whole - 1];
    const bool ok = scan.records == Records(kThree.begin(), kThree.begin() + long(whole)) && scan.valid_bytes == valid &&
                    scan.file_bytes == cut &&
                    (cut == valid ? scan.problem.empty()
                                  : tkt::contains(scan.problem, "torn record at byte " + std::to_string(valid) + ": "));
    if (!ok && first_bad.empty()) first_bad = "cut " + std::to_string(cut) + ": " + scan.problem;
  }
  CHECK(first_bad.empty());
  if (!first_bad.empty()) tkt::fail(__FILE__, __LINE__, first_bad);

  // Repair: cut the torn tail, then appends continue on a frame boundary.
  const std::string path = dir / "repair";
  tkt::write_file(path, full.substr(0, ends[1] + 5));
  tk::JournalScan scan = tk::scan_journal(path);
  CHECK(scan.problem == "torn record at byte " + std::to_string(ends[1]) + ": 5 of 12 header bytes");
  tk::truncate_file(path, scan.valid_bytes);
  append_all(path, {"after"});
  scan = tk::scan_journal(path);
  CHECK(scan.problem.empty() && scan.records.size() == 3 && scan.records[2] == "after");
  tkt::write_file(path, full.substr(0, ends[1] + 20));
  CHECK(tk::scan_journal(path).problem == "torn record at byte " + std::to_string(ends[1]) + ": 20 of " +
                                              std::to_string(ends[2] - ends[1]) + " bytes");
}

static void test_damaged_middle_record() {
  tkt::TempDir dir;
  const Records three = {"one", "two-two", "three"};
  append_all(dir / "j", three);
  const std::string full = tkt::read_file(dir / "j");
  const size_t second = 12 + 3;
  const std::string path = dir / "bad";
  auto scan_with = [&](size_t at, char value) {
    std::string bytes = full;
    bytes[at] = value;
    tkt::write_file(path, bytes);
    return tk::scan_journal(path);
  };
  const std::string at = "record at byte " + std::to_string(second);
  for (size_t where : {second + 12 + 3, second + 4, second + 11}) {  // payload, hash bytes
    tk::JournalScan scan = scan_with(where, char(full[where] ^ 0x20));
    CHECK(scan.records == Records{"one"} && scan.offsets == std::vector<uint64_t>{0});
    CHECK(scan.valid_bytes == second && scan.file_bytes == full.size() && scan.problem == at + " fails its checksum");
  }
  // A length field gone wrong: too long for the limit, or for the file.
  tk::JournalScan scan = scan_with(second + 3, '\x7f');
  CHECK(scan.records == Records{"one"} && scan.valid_bytes == second);
  CHECK(scan.problem == at + " claims " + std::to_string(0x7f000007u) + " bytes, over the limit of 16777216");
  scan = scan_with(second, char(100));
  CHECK(scan.records == Records{"one"} && tkt::contains(scan.problem, "torn " + at + ": "));
  // Zeros where a frame should be (a tail a filesystem may show after a power
  // cut) fail the checksum: xxh3 of nothing is not 0.
  tkt::write_file(path, full.substr(0, second) + std::string(40, '\0'));
  scan = tk::scan_journal(path);
  CHECK(scan.records == Records{"one"} && scan.problem == at + " fails its checksum");
}

static void test_failed_appends_roll_back() {
  tkt::TempDir dir;
  const std::string path = dir / "journal";
  tk::JournalWriter w(path);
  w.append("a", 1, true);
  w.append("b", 1, true);
  const uint64_t before = w.size();

  arm("op=pwrite,fail_at=1,errno=ENOSPC");
  CHECK_THROWS_CODE(w.append("lost", 4, true), ErrorCode::NoSpace, "pwrite " + path);
  sys::clear_fault_plan();
  CHECK(w.size() == before && tkt::read_file(path).size() == before);
  w.append("c", 1, true);

  // A failed fsync also takes the frame back: a retry cannot duplicate it.
  arm("op=fsync,fail_at=1,errno=EIO");
  CHECK_THROWS_CODE(w.append("unsynced", 8, true), ErrorCode::Io, "fsync " + path);
  sys::clear_fault_plan();
  CHECK(tkt::read_file(path).size() == w.size());

  arm("op=pwrite,fail_at=1,errno=EINTR");  // interrupted: retried, not failed
  w.append("d", 1, false);
  sys::clear_fault_plan();
  tk::JournalScan scan = tk::scan_journal(path);
  CHECK((scan.records == Records{"a", "b", "c", "d"}) && scan.problem.empty());

  // When the roll back fails too, the writer refuses to append after what
  // may be a partial frame; a reopened writer is fine.
  arm("fail_at=1,errno=EIO,sticky");
  CHECK_THROWS_CODE(w.append("e", 1, true), ErrorCode::Io, "pwrite");
  sys::clear_fault_plan();
  CHECK_THROWS_CODE(w.append("f", 1, true), ErrorCode::Io, "reopen the journal");
  tk::JournalWriter again(path);
  again.append("g", 1, true);
  CHECK((tk::scan_journal(path).records == Records{"a", "b", "c", "d", "g"}));

  std::string big(tk::kJournalMaxPayload + 1, 'x');
  CHECK_THROWS_CODE(again.append(big.data(), big.size(), true), ErrorCode::BadInput, "exceeds the limit");
}

// Several records in one pwrite: the same frames as one append each, and on
// a failure none of them.
static void test_append_many() {
  tkt::TempDir dir;
  const std::string one_by_one = dir / "one", batched = dir / "many";
  append_all(one_by_one, kThree);
  std::string joined;
  std::vector<uint32_t> lengths;
  for (const std::string& r : kThree) joined += r, lengths.push_back(uint32_t(r.size()));
  tk::JournalWriter w(batched);
  w.append("first", 5, false);
  sys::FaultPlan trace;
  trace.trace = true;
  sys::set_fault_plan(trace);
  w.append_many(joined.data(), lengths.data(), lengths.size(), false);
  CHECK((traced_ops() == std::vector<sys::Op>{sys::Op::Pwrite}));
  sys::clear_fault_plan();
  CHECK(tkt::read_file(batched).substr(12 + 5) == tkt::read_file(one_by_one));

  const uint64_t before = w.size();
  arm("op=pwrite,fail_at=1,errno=ENOSPC");
  CHECK_THROWS_CODE(w.append_many(joined.data(), lengths.data(), lengths.size(), true), ErrorCode::NoSpace, "pwrite");
  sys::clear_fault_plan();
  CHECK(w.size() == before && tkt::read_file(batched).size() == before);
  w.append_many(nullptr, nullptr, 0, true);  // nothing to write: no frame
  CHECK(w.size() == before);

  const uint32_t too_long[] = {1, uint32_t(tk::kJournalMaxPayload + 1)};
  std::string big(tk::kJournalMaxPayload + 2, 'x');
  CHECK_THROWS_CODE(w.append_many(big.data(), too_long, 2, true), ErrorCode::BadInput, "exceeds the limit");
  CHECK(w.size() == before);
  CHECK((tk::scan_journal(batched).records.size() == 1 + kThree.size()));
}

static void test_truncate_file() {
  tkt::TempDir dir;
  const std::string path = dir / "f";
  tkt::write_file(path, "0123456789");
  tk::truncate_file(path, 4);
  CHECK(tkt::read_file(path) == "0123");
  CHECK_THROWS_CODE(tk::truncate_file(path, 5), ErrorCode::BadInput, "has only 4");
  CHECK(tkt::read_file(path) == "0123");
  CHECK_THROWS_CODE(tk::truncate_file(dir / "missing", 0), ErrorCode::NotFound, "missing");
}

static void test_remove_file() {
  tkt::TempDir dir;
  const std::string path = dir / "00000001-s1.tkpt";
  tkt::write_file(path, "x");
  tk::remove_file(path);
  CHECK(!tkt::exists(path));
  // Again (an eviction repeated after a crash): no error, and the directory
  // is still synced, since the crash may have come before that fsync.
  sys::FaultPlan trace;
  trace.trace = true;
  sys::set_fault_plan(trace);
  tk::remove_file(path);
  std::vector<sys::Op> ops = traced_ops();
  sys::clear_fault_plan();
  // The directory is opened first (never through a link), the file unlinked relative to it.
  CHECK((ops == std::vector<sys::Op>{sys::Op::Open, sys::Op::Unlink, sys::Op::Fsync, sys::Op::Close}));
  arm("op=unlink,fail_at=1,errno=EACCES");
  tkt::write_file(path, "x");
  CHECK_THROWS_CODE(tk::remove_file(path), ErrorCode::Io, "unlink " + path);
  sys::clear_fault_plan();
  CHECK(tkt::exists(path));
}

static void test_clear_tmp_dir() {
  tkt::TempDir dir;
  CHECK(tk::clear_tmp_dir(dir.path()) == 0);  // no .tmp at all
  tk::ensure_dir(dir / ".tmp");
  CHECK(tk::clear_tmp_dir(dir.path()) == 0);
  for (const char* name : {"a.partial", "b.partial", ".hidden"}) tkt::write_file(dir / ".tmp/" + name, "x");
  tkt::write_file(dir / "keep.tkpt", "x");
  CHECK(tk::clear_tmp_dir(dir.path()) == 3);
  CHECK(tkt::list_dir(dir / ".tmp").empty() && tkt::exists(dir / "keep.tkpt"));
  CHECK(tk::clear_tmp_dir(dir.path()) == 0);
}

static void test_write_file_atomic() {
  tkt::TempDir dir;
  const std::string path = dir / "catalog.json";
  tk::write_file_atomic(path, "{\"v\":1}", 7);
  CHECK(tkt::read_file(path) == "{\"v\":1}");
  tk::write_file_atomic(path, "{}", 2);
  CHECK(tkt::read_file(path) == "{}" && tkt::list_dir(dir / ".tmp").empty());
  arm("op=rename,fail_at=1,errno=EIO");
  CHECK_THROWS_CODE(tk::write_file_atomic(path, "[]", 2), ErrorCode::Io, "rename");
  sys::clear_fault_plan();
  CHECK(tkt::read_file(path) == "{}" && tkt::list_dir(dir / ".tmp").empty());
}

int main() {
  return tkt::run("journal_test", {test_round_trip, test_missing_and_empty, test_torn_tail_at_every_cut,
                                   test_damaged_middle_record, test_failed_appends_roll_back, test_append_many, test_truncate_file,
                                   test_remove_file, test_clear_tmp_dir, test_write_file_atomic});
}
