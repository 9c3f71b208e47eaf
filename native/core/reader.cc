// Reading a checkpoint (reader.h): validation before allocation, verified
// decode into caller memory.
#include "reader.h"

#include <memory>

#include "codec.h"
#include "errors.h"
#include "parallel.h"

namespace tk {
namespace {

struct ChunkTask {
  const TensorEntry* tensor;
  size_t chunk;
  uint8_t* dst;            // nullptr: decode into scratch (verify only)
  uint64_t tensor_offset;  // of the chunk's first raw byte in its tensor
};

// A bool element is one byte, 0 or 1 (docs/FORMAT.md); any other byte under
// a matching checksum was written by a writer that did not check.
void check_bools(const ChunkTask& task, const uint8_t* data, size_t len, const std::string& what) {
  if (task.tensor->dtype != Dtype::Bool) return;
  for (size_t i = 0; i < len; i++)
    if (data[i] > 1)
      throw Error(ErrorCode::Corrupt, what + ": bool element " + std::to_string(task.tensor_offset + i) + " is " +
                                          std::to_string(data[i]) + ", not 0 or 1");
}

// Per-thread buffers, reused for every chunk that thread decodes.
struct Worker {
  ChunkDecoder decoder;
  std::vector<uint8_t> stored;
  std::vector<uint8_t> scratch;
};

void run_tasks(const ReadOnlyFile& file, const std::vector<ChunkTask>& tasks, bool verify, int threads) {
  uint64_t bytes = 0;
  for (const ChunkTask& t : tasks) bytes += t.tensor->chunks[t.chunk].raw_len;
  threads = threads_for(bytes, threads, kMinCodecBytesPerThread);
  std::vector<std::unique_ptr<Worker>> workers(size_t(std::max(1, threads)));
  for (auto& w : workers) w = std::make_unique<Worker>();
  parallel_for(tasks.size(), threads, [&](size_t i, int worker) {
    Worker& w = *workers[size_t(worker)];
    const ChunkTask& task = tasks[i];
    const ChunkRef& c = task.tensor->chunks[task.chunk];
    std::string what = file.path() + ": chunk " + std::to_string(task.chunk) + " of \"" + task.tensor->name + "\"";
    uint8_t* dst = task.dst;
    if (!dst) {
      if (w.scratch.size() < c.raw_len) w.scratch.resize(c.raw_len);
      dst = w.scratch.data();
    }
    if (c.codec == Codec::Raw) {
      // Raw chunks are read straight into their destination: no copy.
      file.read_exact(dst, c.raw_len, c.offset);
      if (verify) check_hash(dst, c.raw_len, c.hash, what), check_bools(task, dst, c.raw_len, what);
      return;
    }
    if (w.stored.size() < c.stored_len) w.stored.resize(c.stored_len);
    file.read_exact(w.stored.data(), c.stored_len, c.offset);
    w.decoder.decode(c.codec, w.stored.data(), c.stored_len, dst, c.raw_len, dtype_size(task.tensor->dtype), c.hash,
                     verify, what);
    if (verify) check_bools(task, dst, c.raw_len, what);
  });
}

}  // namespace

CheckpointReader::CheckpointReader(const std::string& path, bool follow_links)
    : file_(path, ErrorCode::Corrupt, follow_links) {
  uint64_t size = file_.size();
  if (size < kHeaderSize + kFooterSize)
    throw Error(ErrorCode::Corrupt, path + ": file is " + std::to_string(size) + " bytes, too small for a checkpoint (" +
                                        std::to_string(kHeaderSize + kFooterSize) + " bytes of header and footer)");
  uint8_t header[kHeaderSize], footer[kFooterSize];
  file_.read_exact(header, kHeaderSize, 0);
  file_.read_exact(footer, kFooterSize, size - kFooterSize);
  Footer f = parse_header_footer(header, footer, size, path);
  index_json_.resize(f.index_len);
  file_.read_exact(index_json_.data(), f.index_len, f.index_offset);
  uint64_t actual = xxh3_64(index_json_.data(), index_json_.size());
  if (actual != f.index_hash)
    throw Error(ErrorCode::Corrupt, path + ": index checksum mismatch (footer says " + hash_hex(f.index_hash) +
                                        ", index hashes to " + hash_hex(actual) + ")");
  tensors_ = parse_index(index_json_, f.index_offset, path);
}

void CheckpointReader::decode(const std::vector<Target>& targets, bool verify, int threads) const {
  std::vector<ChunkTask> tasks;
  for (const Target& t : targets) {
    if (t.tensor >= tensors_.size())
      throw Error(ErrorCode::BadInput, "tensor position " + std::to_string(t.tensor) + " out of range");
    const TensorEntry& e = tensors_[t.tensor];
    if (t.len != e.nbytes)
      throw Error(ErrorCode::BadInput, "destination for tensor \"" + e.name + "\" has " + std::to_string(t.len) +
                                           " bytes, the tensor has " + std::to_string(e.nbytes));
    uint8_t* dst = t.dst;
    uint64_t at = 0;
    for (size_t c = 0; c < e.chunks.size(); c++) {
      tasks.push_back({&e, c, dst, at});
      dst += e.chunks[c].raw_len;
      at += e.chunks[c].raw_len;
    }
  }
  run_tasks(file_, tasks, verify, threads);
}

void CheckpointReader::verify_all(int threads) const {
  std::vector<ChunkTask> tasks;
  for (const TensorEntry& e : tensors_) {
    uint64_t at = 0;
    for (size_t c = 0; c < e.chunks.size(); c++) {
      tasks.push_back({&e, c, nullptr, at});
      at += e.chunks[c].raw_len;
    }
  }
  run_tasks(file_, tasks, true, threads);
}

}  // namespace tk
