// Writing a checkpoint (writer.h): chunking, parallel encoding, ordered
// writes, the index and footer.
#include "writer.h"

#include <algorithm>
#include <cstring>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "errors.h"
#include "file_io.h"
#include "json.h"
#include "parallel.h"

namespace tk {
namespace {

struct ChunkJob {
  size_t tensor;
  const uint8_t* data;
  size_t len;
  size_t elem_size;
  uint64_t tensor_offset;  // of the chunk's first byte in its tensor
  bool is_bool;            // every byte must be 0 or 1
};

constexpr uint64_t kNoBadByte = ~uint64_t(0);

// Position of the first byte of a bool chunk that is neither 0 nor 1, or
// kNoBadByte. Runs on the encoder thread right before the chunk is hashed
// and compressed, so the bytes are read from cache, not a second time from
// memory. Eight bytes at a time: a word with any bit above bit 0 set in one
// of its bytes holds a bad byte.
uint64_t first_bad_bool(const ChunkJob& job) {
  if (!job.is_bool) return kNoBadByte;
  size_t i = 0;
  for (; i + 8 <= job.len; i += 8) {
    uint64_t w;
    std::memcpy(&w, job.data + i, 8);
    if (w & 0xFEFEFEFEFEFEFEFEull) break;
  }
  for (; i < job.len; i++)
    if (job.data[i] > 1) return i;
  return kNoBadByte;
}

// The name must survive the index JSON, whose parser takes valid UTF-8 only.
void check_name_utf8(const std::string& name) {
  std::string quoted;
  json_escape(name, &quoted);
  try {
    parse_json(quoted);
  } catch (const Error& e) {
    throw Error(ErrorCode::BadInput, "tensor name " + quoted + " is not valid UTF-8 (" + e.what() + ")");
  }
}

void check_inputs(const std::vector<TensorSource>& tensors, std::string_view head_json, const WriteOptions& o) {
  if (o.chunk_bytes < kMinChunkBytes || o.chunk_bytes > kMaxChunkBytes || o.chunk_bytes % kAlignment != 0)
    throw Error(ErrorCode::BadInput, "chunkBytes must be a multiple of 64 in [" + std::to_string(kMinChunkBytes) + ", " +
                                         std::to_string(kMaxChunkBytes) + "], got " + std::to_string(o.chunk_bytes));
  if (o.level < kMinLevel || o.level > kMaxLevel)
    throw Error(ErrorCode::BadInput, "level must be in [" + std::to_string(kMinLevel) + ", " + std::to_string(kMaxLevel) +
                                         "], got " + std::to_string(o.level));
  if (o.codec != Codec::Raw && o.codec != Codec::Zstd && o.codec != Codec::ShuffleZstd)
    throw Error(ErrorCode::BadInput, "unknown codec " + std::to_string(int(o.codec)));
  if (head_json.size() > kMaxIndexBytes)
    throw Error(ErrorCode::BadInput, "head JSON of " + std::to_string(head_json.size()) + " bytes (meta, metrics, ...) exceeds the index limit of " +
                                         std::to_string(kMaxIndexBytes) + " bytes that every reader enforces");
  JsonValue head;
  try {
    head = parse_json(head_json);
  } catch (const Error& e) {
    throw Error(ErrorCode::BadInput, std::string("head JSON: ") + e.what());
  }
  if (!head.is_object()) throw Error(ErrorCode::BadInput, "head JSON must be an object");
  for (const char* reserved : {"format_version", "codec", "tensors"})
    if (head.find(reserved)) throw Error(ErrorCode::BadInput, std::string("head JSON must not set \"") + reserved + "\"");
  std::unordered_set<std::string> names;
  for (const TensorSource& t : tensors) {
    check_tensor_shape(t.name, t.dtype, t.shape, t.nbytes);
    check_name_utf8(t.name);
    if (!names.insert(t.name).second) throw Error(ErrorCode::BadInput, "tensor name \"" + t.name + "\" appears twice");
    if (t.nbytes && !t.data) throw Error(ErrorCode::BadInput, "tensor \"" + t.name + "\" has no data");
  }
}

// Encodes jobs on `threads` threads into a ring of slots while the calling
// thread hands each encoded chunk, in order, to `sink`. Memory stays bounded
// by the ring however large the checkpoint is, and the disk writes overlap
// the compression.
class OrderedEncoder {
 public:
  OrderedEncoder(const std::vector<ChunkJob>& jobs, Codec codec, int level, int threads)
      : jobs_(jobs), codec_(codec), threads_(std::max(1, threads)) {
    size_t slots = std::min<size_t>(jobs.size(), size_t(threads_) * 2);
    for (size_t i = 0; i < slots; i++) slots_.push_back(Slot{std::make_unique<ChunkEncoder>(level), {}, size_t(-1), i, kNoBadByte});
  }

  template <typename Sink>
  void run(Sink&& sink) {
    if (jobs_.empty()) return;
    if (threads_ == 1) {
      // Small or single-threaded writes: starting threads would cost more
      // than the whole encode.
      for (size_t i = 0; i < jobs_.size(); i++) {
        uint64_t bad = first_bad_bool(jobs_[i]);
        sink(i, slots_[0].encoder->encode(jobs_[i].data, jobs_[i].len, jobs_[i].elem_size, codec_), bad);
      }
      return;
    }
    std::vector<std::thread> pool;
    for (int t = 0; t < threads_; t++) pool.emplace_back([this] { encode_loop(); });
    try {
      for (size_t i = 0; i < jobs_.size(); i++) {
        Slot& slot = slots_[i % slots_.size()];
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return slot.ready == i || error_; });
        if (error_) break;
        lock.unlock();
        sink(i, slot.result, slot.bad_bool);
        lock.lock();
        slot.free_for = i + slots_.size();
        cv_.notify_all();
      }
    } catch (...) {
      fail(std::current_exception());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : pool) t.join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Slot {
    std::unique_ptr<ChunkEncoder> encoder;
    ChunkEncoder::Result result;
    size_t ready;     // index of the job whose result the slot holds
    size_t free_for;  // index of the job allowed to fill the slot next
    uint64_t bad_bool = kNoBadByte;  // first_bad_bool of that job
  };

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = e;
    cv_.notify_all();
  }

  void encode_loop() {
    for (;;) {
      size_t i;
      Slot* slot;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (next_ >= jobs_.size() || error_ || stop_) return;
        i = next_++;
        slot = &slots_[i % slots_.size()];
        cv_.wait(lock, [&] { return slot->free_for == i || error_ || stop_; });
        if (error_ || stop_) return;
      }
      try {
        const ChunkJob& job = jobs_[i];
        uint64_t bad = first_bad_bool(job);
        ChunkEncoder::Result r = slot->encoder->encode(job.data, job.len, job.elem_size, codec_);
        std::lock_guard<std::mutex> lock(mu_);
        slot->result = r;
        slot->bad_bool = bad;
        slot->ready = i;
        cv_.notify_all();
      } catch (...) {
        fail(std::current_exception());
        return;
      }
    }
  }

  const std::vector<ChunkJob>& jobs_;
  Codec codec_;
  int threads_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// The index JSON: format_version, the caller's head fields, codec, tensors.
std::string build_index(std::string_view head_json, const WriteOptions& options, const std::vector<TensorEntry>& entries) {
  std::string_view head_inner = head_json.substr(head_json.find('{') + 1);
  head_inner = head_inner.substr(0, head_inner.rfind('}'));
  bool head_empty = head_inner.find_first_not_of(" \t\r\n") == std::string_view::npos;
  std::string index = "{\"format_version\":" + std::to_string(kFormatVersion) + (head_empty ? "" : ",");
  index.append(head_inner);
  index += ",\"codec\":{\"name\":\"" + std::string(codec_name(options.codec)) + "\",\"level\":" + std::to_string(options.level) +
           ",\"chunk_bytes\":" + std::to_string(options.chunk_bytes) + "},\"tensors\":[";
  for (size_t i = 0; i < entries.size(); i++) {
    if (i) index += ",";
    append_tensor_json(entries[i], &index);
  }
  index += "]}";
  return index;
}

size_t decimal_digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) v /= 10, n++;
  return n;
}

// The reader refuses an index over kMaxIndexBytes, so the writer must refuse
// to write one, before it creates a file (or allocates its chunk table: a
// huge tensor in small chunks must not cost memory to refuse). The index is
// known up to each chunk's offset, stored length and codec; this counts
// every chunk entry at its widest (stored_len == raw_len, so each offset as
// large as it can get, and the longest codec name the options allow): an
// upper bound of the real index's size, exact for the raw codec. It stops
// counting once over the limit.
void check_index_size(std::string_view head_json, const WriteOptions& options, const std::vector<TensorSource>& tensors) {
  std::vector<TensorEntry> entries;  // without chunks: the text around them
  for (const TensorSource& t : tensors) entries.push_back({t.name, t.dtype, t.shape, t.nbytes, {}});
  uint64_t bound = build_index(head_json, options, entries).size();
  const Codec widest = options.codec == Codec::Raw ? Codec::Raw : options.codec == Codec::Zstd ? Codec::Zstd : Codec::ShuffleZstd;
  // [offset,stored,raw,"codec","<16 hex>"] and a comma before all but the first
  const uint64_t fixed_per_chunk = 26 + std::strlen(codec_name(widest));
  uint64_t offset = kHeaderSize;
  for (const TensorSource& t : tensors) {
    for (uint64_t off = 0; off < t.nbytes && bound <= kMaxIndexBytes; off += options.chunk_bytes) {
      const uint64_t len = std::min(options.chunk_bytes, t.nbytes - off);
      bound += (off ? 1 : 0) + fixed_per_chunk + decimal_digits(offset) + 2 * decimal_digits(len);
      offset = align_up(offset + len);
    }
  }
  if (bound > kMaxIndexBytes)
    throw Error(ErrorCode::BadInput, "the index of this checkpoint (tensor names, shapes, chunk table and the head: meta, "
                                     "metrics, ...) would take " + std::string(options.codec == Codec::Raw ? "" : "up to ") +
                                         std::to_string(bound) + (bound > kMaxIndexBytes + 1024 ? " or more" : "") +
                                         " bytes, over the limit of " + std::to_string(kMaxIndexBytes) +
                                         " that every reader enforces");
}

[[noreturn]] void bad_bool_value(const TensorSource& t, uint64_t at) {
  throw Error(ErrorCode::BadInput, "tensor \"" + t.name + "\": bool element " + std::to_string(at) + " is " +
                                       std::to_string(t.data[at]) + "; bool values must be 0 or 1");
}

}  // namespace

void check_write(const std::vector<TensorSource>& tensors, std::string_view head_json, const WriteOptions& options,
                 bool check_values) {
  check_inputs(tensors, head_json, options);
  check_index_size(head_json, options, tensors);
  if (!check_values) return;
  for (const TensorSource& t : tensors) {
    if (t.dtype != Dtype::Bool) continue;
    for (uint64_t i = 0; i < t.nbytes; i++)
      if (t.data[i] > 1) bad_bool_value(t, i);
  }
}

WriteResult write_checkpoint(const std::string& path, const std::vector<TensorSource>& tensors,
                             std::string_view head_json, const WriteOptions& options, bool store_dir) {
  check_inputs(tensors, head_json, options);
  check_index_size(head_json, options, tensors);
  std::vector<TensorEntry> entries;
  std::vector<ChunkJob> jobs;
  WriteResult result;
  for (size_t t = 0; t < tensors.size(); t++) {
    const TensorSource& src = tensors[t];
    entries.push_back({src.name, src.dtype, src.shape, src.nbytes, {}});
    for (uint64_t off = 0; off < src.nbytes; off += options.chunk_bytes)
      jobs.push_back({t, src.data + off, size_t(std::min(options.chunk_bytes, src.nbytes - off)), dtype_size(src.dtype), off,
                      src.dtype == Dtype::Bool});
    result.raw_bytes += src.nbytes;
  }

  AtomicFile file(path, store_dir);
  uint8_t header[kHeaderSize];
  encode_header(header);
  file.write_at(header, kHeaderSize, 0);
  uint64_t offset = kHeaderSize;
  int threads = threads_for(result.raw_bytes, options.threads > 0 ? options.threads : hardware_threads(),
                            kMinCodecBytesPerThread);
  if (jobs.size() < 2) threads = 1;
  OrderedEncoder encoder(jobs, options.codec, options.level, threads);
  encoder.run([&](size_t i, const ChunkEncoder::Result& r, uint64_t bad_bool) {
    const ChunkJob& job = jobs[i];
    // In order, so the error names the first bad element of the checkpoint;
    // the uncommitted temporary file is removed on the way out.
    if (bad_bool != kNoBadByte) bad_bool_value(tensors[job.tensor], job.tensor_offset + bad_bool);
    file.write_at(r.data, r.len, offset);
    entries[job.tensor].chunks.push_back({offset, r.len, job.len, r.codec, r.hash});
    offset = align_up(offset + r.len);
  });

  std::string& index = result.index_json;
  index = build_index(head_json, options, entries);

  Footer footer{offset, index.size(), xxh3_64(index.data(), index.size())};
  uint8_t footer_bytes[kFooterSize];
  encode_footer(footer, footer_bytes);
  file.write_at(index.data(), index.size(), offset);
  file.write_at(footer_bytes, kFooterSize, offset + index.size());
  file.commit();
  result.file_bytes = offset + index.size() + kFooterSize;
  return result;
}

}  // namespace tk
