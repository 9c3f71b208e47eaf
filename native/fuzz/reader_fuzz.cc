// libFuzzer target for everything that reads untrusted checkpoint bytes: the
// JSON parser on the raw input, then the input as a checkpoint file opened,
// verified and decoded by CheckpointReader. tk::Error is the expected outcome
// for bad input; a crash, a sanitizer report, a leak or any other exception
// is a finding, and so is a file that opens although a chunk claims more
// than zstd can expand into, or verifies although a bool holds a 2.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "errors.h"
#include "json.h"
#include "reader.h"

namespace {

// Decode buffers are capped so a hostile nbytes cannot exhaust memory;
// larger tensors are still verified chunk by chunk.
constexpr uint64_t kMaxTensorDecode = 64ull << 20, kMaxTotalDecode = 256ull << 20;

// One file per process (the reader opens by path), in RAM when possible.
std::string g_path;
const std::string& scratch_path() {
  if (g_path.empty()) {
    g_path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/tk_reader_fuzz." +
             std::to_string(getpid()) + ".tkpt";
    std::atexit([] { unlink(g_path.c_str()); });
  }
  return g_path;
}

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (8 * i));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

// A mutated index would almost never match the footer's xxh3, and the parser
// behind that check would go unexplored: when the footer points at an index
// that ends where the footer starts, give it the right checksum.
void fix_index_hash(std::vector<uint8_t>& file) {
  if (file.size() < tk::kHeaderSize + tk::kFooterSize) return;
  uint8_t* footer = file.data() + file.size() - tk::kFooterSize;
  uint64_t offset = get_u64(footer), len = get_u64(footer + 8), index_end = file.size() - tk::kFooterSize;
  if (offset > index_end || len != index_end - offset) return;
  put_u64(footer + 16, tk::xxh3_64(file.data() + offset, len));
}

void write_scratch(const std::vector<uint8_t>& bytes) {
  int fd = open(scratch_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += size_t(n);
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tk::parse_json(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const tk::Error&) {
  }

  std::vector<uint8_t> file(data, data + size);
  fix_index_hash(file);
  write_scratch(file);
  try {
    tk::CheckpointReader reader(scratch_path());
    // What an opened file promises: no compressed chunk claims more than
    // zstd can expand its stored bytes into (nothing was allocated for a lie).
    for (const tk::TensorEntry& t : reader.tensors())
      for (const tk::ChunkRef& c : t.chunks)
        if (c.codec != tk::Codec::Raw && c.raw_len > c.stored_len * tk::kMaxZstdExpansion) std::abort();
    bool verified = true;
    try {
      reader.verify_all(1);
    } catch (const tk::Error&) {
      verified = false;
    }
    // Unverified decode: every chunk is decoded even when an earlier one
    // fails its checksum, into exactly-sized buffers so ASan sees overruns.
    std::vector<std::vector<uint8_t>> buffers(reader.tensors().size());
    std::vector<tk::CheckpointReader::Target> targets;
    uint64_t total = 0;
    for (size_t i = 0; i < reader.tensors().size(); i++) {
      uint64_t nbytes = reader.tensors()[i].nbytes;
      if (nbytes > kMaxTensorDecode || nbytes > kMaxTotalDecode - total) continue;
      total += nbytes;
      buffers[i].resize(nbytes);
      targets.push_back({i, buffers[i].data(), nbytes});
    }
    reader.decode(targets, false, 1);
    // A file that verifies holds only 0 and 1 in its bool tensors.
    if (verified)
      for (const auto& target : targets)
        if (reader.tensors()[target.tensor].dtype == tk::Dtype::Bool)
          for (uint64_t i = 0; i < target.len; i++)
            if (target.dst[i] > 1) std::abort();
  } catch (const tk::Error&) {
  }
  return 0;
}
