// The read side of an episode stream (docs/FORMAT.md, "Episode segments"):
// recovery's scan of a whole segment and replay's read of one byte range.
// Damaged frames are skipped and reported, never fatal, and no length read
// from the file is used before it is checked.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "episode_format.h"

namespace tk::episodes {

struct ScannedRecord {
  FrameInfo frame;
  std::string head;  // the record's JSON head
};

struct SegmentScan {
  bool header_ok = false;
  SegmentHeader header;
  std::string header_problem;  // why the header is unusable (torn or damaged)
  std::vector<ScannedRecord> records;
  std::vector<Damage> damages;  // damaged stretches with intact frames after them
  uint64_t good_end = 0;        // end of the last intact frame (or of the header)
  uint64_t file_bytes = 0;
  std::string tail;             // what is wrong after good_end, if anything
};

// Reads and checks every frame of the segment. Throws Error(Version) for a
// segment of an unknown format version, Error(NotFound) for a missing file.
SegmentScan scan_segment(const std::string& path);

struct RangeRead {
  FrameBytes out;                // raw-form records, each 8-aligned (holes of undecodable ones zeroed)
  std::vector<uint64_t> starts;  // where each record starts in `out`
  // Per record: equal numbers for consecutive records with byte-identical
  // schemas, so a reader parses each schema once per run of them.
  std::vector<uint32_t> schemas;
  std::vector<Damage> damages;   // stretches of the range that held no intact record
};

// Reads segment bytes [offset, offset + len) and decodes every intact record
// in it (a large range on several threads). Bytes missing at the end of the
// file count as damage.
RangeRead read_range(const std::string& path, uint64_t offset, uint64_t len);

}  // namespace tk::episodes
