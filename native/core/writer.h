// Writes one checkpoint file: chunks the tensors, encodes the chunks on
// several threads while the calling thread writes them in order, appends the
// index and footer, and commits the file atomically (file_io::AtomicFile).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec.h"
#include "format.h"

namespace tk {

struct TensorSource {
  std::string name;
  Dtype dtype;
  std::vector<uint64_t> shape;
  const uint8_t* data;
  uint64_t nbytes;
};

struct WriteOptions {
  Codec codec = Codec::ShuffleZstd;
  int level = 1;
  uint64_t chunk_bytes = kDefaultChunkBytes;
  int threads = 0;  // 0: one per hardware thread
};

struct WriteResult {
  uint64_t file_bytes = 0;
  uint64_t raw_bytes = 0;
  std::string index_json;
};

// Everything write_checkpoint refuses before it creates a file, without
// writing: the options, the head JSON, the tensors' names and shapes, the
// size of the index, and (with check_values) the bytes of bool tensors.
// Throws Error(BadInput) naming the problem. A save calls it on the
// training thread so that what it acknowledges can be written and read back.
void check_write(const std::vector<TensorSource>& tensors, std::string_view head_json, const WriteOptions& options,
                 bool check_values);

// head_json is a JSON object of the caller's index fields (created, writer,
// model, seq, step, metrics, meta, ...); the writer adds format_version,
// codec and tensors. Throws Error(BadInput) for invalid tensors or options,
// and the file_io errors for failed system calls (leaving no file behind).
// A store's checkpoint (store_dir) goes into a directory opened with
// open_store_dir; a path the caller names may lead through links.
WriteResult write_checkpoint(const std::string& path, const std::vector<TensorSource>& tensors,
                             std::string_view head_json, const WriteOptions& options, bool store_dir = false);

}  // namespace tk
