// Opens a checkpoint file, validates its header, footer and index (format.h)
// and decodes tensors straight into caller-provided memory, verifying each
// chunk's xxh3 unless told not to.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "file_io.h"
#include "format.h"

namespace tk {

class CheckpointReader {
 public:
  // Throws Error(Corrupt | Version | NotFound | Io) naming the path. A
  // symbolic link at `path` is refused (Corrupt, like any non-regular file)
  // unless `follow_links`: a store reads only its own files, while a caller
  // of the low-level API may name a link it made itself.
  explicit CheckpointReader(const std::string& path, bool follow_links = false);

  const std::string& index_json() const { return index_json_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  uint64_t file_size() const { return file_.size(); }

  struct Target {
    size_t tensor;  // position in tensors()
    uint8_t* dst;
    uint64_t len;  // must equal the tensor's nbytes
  };
  // Decodes every target; chunks of all targets are spread over `threads`.
  void decode(const std::vector<Target>& targets, bool verify, int threads) const;
  // Decodes and checks every chunk of the file into scratch memory.
  void verify_all(int threads) const;

 private:
  ReadOnlyFile file_;
  std::string index_json_;
  std::vector<TensorEntry> tensors_;
};

}  // namespace tk
