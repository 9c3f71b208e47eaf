// The per-model journal (docs/FORMAT.md, "Journal and history framing"):
// an append-only log of records, each framed as
// u32 payload_len | u64 xxh3_64(payload) | payload, little-endian.
// A crash can leave only a torn tail, which scan_journal reports and
// truncate_file cuts off. Every system call goes through syscall_seam.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format_limits.h"

namespace tk {

constexpr size_t kJournalHeaderBytes = 12;

class JournalWriter {
 public:
  // Opens (creating) the file for appending; new frames go after whatever it
  // holds, so cut a damaged tail (scan_journal + truncate_file) first.
  explicit JournalWriter(const std::string& path);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Writes one frame with a single pwrite, then fsyncs when `sync`. A failed
  // append (write or fsync) truncates the file back to its previous size and
  // throws, so the record is absent and a retry cannot duplicate it.
  // Payloads over kJournalMaxPayload are BadInput.
  void append(const void* data, size_t len, bool sync);
  // Appends `count` records, the payloads laid end to end in `data` (record
  // i is lengths[i] bytes), as `count` frames written by a single pwrite:
  // all of them or, on failure, none. Buffered records (the history) cost
  // one system call per batch instead of one per record.
  void append_many(const void* data, const uint32_t* lengths, size_t count, bool sync);
  void sync();
  uint64_t size() const { return size_; }

 private:
  [[noreturn]] void roll_back(int err, const char* call);

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  // Set when a roll back itself failed: the file may end in a partial frame,
  // and appending after it would bury it mid-journal.
  bool broken_ = false;
};

struct JournalScan {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;  // byte offset of each record's frame
  uint64_t valid_bytes = 0;       // end of the last intact frame
  uint64_t file_bytes = 0;
  std::string problem;  // empty when the whole file is intact frames
};

// Reads every intact frame from the start and stops at the first one that is
// torn, too long or fails its checksum; everything from valid_bytes on is
// the damaged tail described by `problem`. A missing file is an empty scan.
JournalScan scan_journal(const std::string& path);

// Cuts the file to `len` bytes and fsyncs it (to drop a torn tail). Never
// grows a file: len beyond its size is BadInput.
void truncate_file(const std::string& path, uint64_t len);

}  // namespace tk
