// Per-chunk encoding: raw, zstd, or byte-shuffle + zstd (Blosc-style byte
// planes by element size), with the xxh3-64 of the chunk's raw bytes. A chunk
// whose encoded form is not smaller than its raw bytes is stored raw, so a
// compressed chunk is always strictly smaller than its raw bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tk {

enum class Codec : uint8_t { Raw, Zstd, ShuffleZstd };

// Encoding or decoding less than this per thread is done on fewer threads.
constexpr uint64_t kMinCodecBytesPerThread = 1ull << 20;
const char* codec_name(Codec codec);  // "raw", "zstd", "shuffle+zstd"
bool codec_from_name(std::string_view name, Codec* out);

uint64_t xxh3_64(const void* data, size_t len);
std::string hash_hex(uint64_t hash);  // 16 lowercase hex digits
bool parse_hash_hex(std::string_view hex, uint64_t* out);

// dst[plane * (len / elem) + i] = src[i * elem + plane]; the len % elem tail
// bytes are copied unchanged.
void shuffle_bytes(const uint8_t* src, uint8_t* dst, size_t len, size_t elem);
void unshuffle_bytes(const uint8_t* src, uint8_t* dst, size_t len, size_t elem);

// Reusable per-thread encoder (owns a zstd context and scratch buffers).
class ChunkEncoder {
 public:
  explicit ChunkEncoder(int level);
  ~ChunkEncoder();
  struct Result {
    Codec codec;
    const uint8_t* data;  // the input itself when stored raw
    size_t len;
    uint64_t hash;  // xxh3-64 of the raw bytes
  };
  // The result stays valid until the next encode() call.
  Result encode(const uint8_t* raw, size_t len, size_t elem_size, Codec want);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Reusable per-thread decoder.
class ChunkDecoder {
 public:
  ChunkDecoder();
  ~ChunkDecoder();
  // Decodes `stored` into exactly raw_len bytes at dst. Throws Error(Corrupt)
  // naming `what` if the data does not decode to raw_len bytes or (when
  // verify) its xxh3 differs from expected_hash.
  void decode(Codec codec, const uint8_t* stored, size_t stored_len, uint8_t* dst, size_t raw_len,
              size_t elem_size, uint64_t expected_hash, bool verify, const std::string& what);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Throws Error(Corrupt) naming `what` when xxh3_64(data) != expected.
void check_hash(const uint8_t* data, size_t len, uint64_t expected, const std::string& what);

}  // namespace tk
