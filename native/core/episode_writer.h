// The append side of an episode stream (docs/FORMAT.md, "Episode segments"):
// one active segment file that batches of records are appended to, each
// batch encoded, written in pieces as they are encoded and made durable with
// one fsync (group commit). Every system call goes through syscall_seam.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codec.h"
#include "episode_format.h"

namespace tk::episodes {

struct WrittenRecord {
  uint64_t offset;       // of the frame in the segment
  uint64_t frame_bytes;  // header + stored payload
};

// Raw-form records laid out back to back in one buffer (each 8-aligned).
struct BatchChunk {
  const uint8_t* data;
  size_t len;
  size_t count;
};

// A batch's frames in contiguous pieces of records, one buffer per piece.
struct EncodedBatch {
  std::vector<FrameBytes> pieces;
  std::vector<size_t> first;      // the first record of each piece, then the record count
  std::vector<size_t> frame_end;  // per record: where its frame ends in its piece

  // Encodes `records` (`len` raw bytes) on up to `max_threads` threads,
  // `encoders` growing to the threads used; `done(piece)` runs on the thread
  // that finished the piece, as soon as it is.
  void encode(const std::vector<Record>& records, size_t len, Codec codec, int level, int max_threads,
              std::vector<std::unique_ptr<RecordEncoder>>& encoders, const std::function<void(size_t)>& done);
};

// Encodes the records of `chunks` ahead of their commit (while an earlier
// commit is written), on one thread; touches no file.
EncodedBatch encode_ahead(const std::vector<BatchChunk>& chunks, Codec codec, int level);

// Closing the active segment and starting the next one.
struct Roll {
  std::string index_path;   // the closed segment's index file (written atomically)
  std::string index_bytes;
  std::string segment_path;  // the new segment
  SegmentHeader header;
};

class EpisodeWriter {
 public:
  // Appends to an existing segment whose first `valid_bytes` hold its header
  // and intact frames (recovery has cut anything after them), or, with
  // valid_bytes == 0 and a header, creates it.
  EpisodeWriter(const std::string& segment_path, uint64_t valid_bytes, int level);
  ~EpisodeWriter();
  EpisodeWriter(const EpisodeWriter&) = delete;
  EpisodeWriter& operator=(const EpisodeWriter&) = delete;

  // Creates (or replaces: only a failed earlier roll can have left one) a
  // segment file holding only its header, fsyncs it and its directory.
  static void create_segment(const std::string& path, const SegmentHeader& header);

  // Writes the active segment's index, then continues in a new segment. On
  // failure the active segment stays the same (a retry redoes both steps).
  void roll(const Roll& roll);

  // Appends the frames of `ahead` (batches encoded earlier, in order), then
  // those of the records of `chunks`, encoded now (a large batch on several
  // threads), and fsyncs once. Frames are written as they are encoded, so
  // the copy into the page cache and the disk's writeback overlap the
  // encoding of the rest. On a failed write or fsync the segment is cut back
  // to its previous size and the call throws: none of the batch is
  // acknowledged, and the writer stays usable. A failed cut-back makes the
  // writer broken().
  std::vector<WrittenRecord> commit(const std::vector<std::shared_ptr<const EncodedBatch>>& ahead,
                                    const std::vector<BatchChunk>& chunks, Codec codec);

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // The segment may end in a partial batch: append only to a new segment.
  bool broken() const { return broken_; }

 private:
  void open_segment(const std::string& path, uint64_t valid_bytes);
  void close_fd();
  [[noreturn]] void roll_back(int err, const char* call);

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool broken_ = false;
  int level_;
  // One encoder per encoding thread and the frames of the records a commit
  // encodes itself, reused across commits.
  std::vector<std::unique_ptr<RecordEncoder>> encoders_;
  EncodedBatch frames_;
};

}  // namespace tk::episodes
