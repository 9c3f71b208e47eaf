// Checkpoint file format version 1 (docs/FORMAT.md describes it byte by
// byte): constants, the dtype table, header/footer encoding and the
// validation of a file's index. Nothing read from a file is trusted: every
// offset, length and name is checked here before a byte of tensor data is
// touched, and each error names the field and the value.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec.h"
#include "format_limits.h"

namespace tk {

constexpr uint32_t kFormatVersion = 1;
constexpr char kHeaderMagic[8] = {'T', 'K', 'P', 'T', '\r', '\n', '\x1a', '\n'};
constexpr char kFooterMagic[8] = {'T', 'K', 'P', 'T', 'E', 'N', 'D', '\n'};
constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kFooterSize = 40;
// The limits (index size, chunk size, name bytes, dims, ...) are in format_limits.h.

enum class Dtype : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, Bool };
const char* dtype_name(Dtype dtype);  // "float32", ...
size_t dtype_size(Dtype dtype);
bool dtype_from_name(std::string_view name, Dtype* out);

inline uint64_t align_up(uint64_t v) { return (v + kAlignment - 1) / kAlignment * kAlignment; }

struct ChunkRef {
  uint64_t offset;
  uint64_t stored_len;
  uint64_t raw_len;
  Codec codec;
  uint64_t hash;  // xxh3-64 of the raw bytes
};

struct TensorEntry {
  std::string name;
  Dtype dtype;
  std::vector<uint64_t> shape;
  uint64_t nbytes;
  std::vector<ChunkRef> chunks;
};

struct Footer {
  uint64_t index_offset;
  uint64_t index_len;
  uint64_t index_hash;
};

void encode_header(uint8_t out[kHeaderSize]);
void encode_footer(const Footer& footer, uint8_t out[kFooterSize]);

// Checks the 64-byte header and 40-byte footer of a file of file_size bytes
// and returns the footer. `what` (the path) prefixes every error message.
Footer parse_header_footer(const uint8_t* header, const uint8_t* footer, uint64_t file_size, const std::string& what);

// Parses and checks the index JSON: known format version, tensor names
// unique and non-empty, known dtypes and codecs, nbytes == product(shape) *
// element size, chunks covering nbytes exactly, every chunk aligned, inside
// [kHeaderSize, data_end) and overlapping no other chunk.
std::vector<TensorEntry> parse_index(std::string_view json, uint64_t data_end, const std::string& what);

// Checks a tensor's name, shape and byte count as a writer receives them.
void check_tensor_shape(const std::string& name, Dtype dtype, const std::vector<uint64_t>& shape, uint64_t nbytes);

// Appends the index JSON object of one tensor.
void append_tensor_json(const TensorEntry& tensor, std::string* out);

}  // namespace tk
