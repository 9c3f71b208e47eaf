// The checkpoint format (format.h): header, footer and index encoding and
// validation.
#include "format.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "endian.h"
#include "errors.h"
#include "json.h"

namespace tk {
namespace {

const struct {
  Dtype dtype;
  const char* name;
  size_t size;
} kDtypes[] = {
    {Dtype::F64, "float64", 8}, {Dtype::F32, "float32", 4}, {Dtype::F16, "float16", 2},
    {Dtype::BF16, "bfloat16", 2}, {Dtype::I64, "int64", 8},  {Dtype::I32, "int32", 4},
    {Dtype::I16, "int16", 2},    {Dtype::I8, "int8", 1},    {Dtype::U64, "uint64", 8},
    {Dtype::U32, "uint32", 4},   {Dtype::U16, "uint16", 2}, {Dtype::U8, "uint8", 1},
    {Dtype::Bool, "bool", 1},
};

[[noreturn]] void corrupt(const std::string& what, const std::string& message) {
  throw Error(ErrorCode::Corrupt, what + ": " + message);
}

std::string quoted(const std::string& s) {
  std::string out;
  json_escape(s, &out);
  return out;
}

uint64_t member_uint(const JsonValue& obj, const char* key, const std::string& what, const std::string& where) {
  const JsonValue* v = obj.find(key);
  uint64_t out;
  if (!v || !v->as_uint64(&out))
    corrupt(what, where + ": \"" + key + "\" must be a non-negative integer" +
                      (v ? std::string(", found ") + JsonValue::kind_name(v->kind()) : std::string(", missing")));
  return out;
}

const JsonValue& member_of_kind(const JsonValue& obj, const char* key, JsonValue::Kind kind, const std::string& what,
                                const std::string& where) {
  const JsonValue* v = obj.find(key);
  if (!v || v->kind() != kind)
    corrupt(what, where + ": \"" + key + "\" must be " + JsonValue::kind_name(kind) +
                      (v ? std::string(", found ") + JsonValue::kind_name(v->kind()) : std::string(", missing")));
  return *v;
}

ChunkRef parse_chunk(const JsonValue& c, const std::string& what, const std::string& where, uint64_t data_end) {
  if (!c.is_array() || c.items().size() != 5)
    corrupt(what, where + ": must be [offset, stored_len, raw_len, codec, xxh3]");
  ChunkRef ref{};
  const auto& it = c.items();
  if (!it[0].as_uint64(&ref.offset) || !it[1].as_uint64(&ref.stored_len) || !it[2].as_uint64(&ref.raw_len))
    corrupt(what, where + ": offset, stored_len and raw_len must be non-negative integers");
  if (!it[3].is_string()) corrupt(what, where + ": codec must be a string");
  if (!codec_from_name(it[3].as_string(), &ref.codec))
    throw Error(ErrorCode::Version, what + ": " + where + ": unknown codec " + quoted(it[3].as_string()) +
                                        " (this tensorkeep reads raw, zstd and shuffle+zstd; the file needs a newer release)");
  if (!it[4].is_string() || !parse_hash_hex(it[4].as_string(), &ref.hash))
    corrupt(what, where + ": xxh3 must be 16 lowercase hex digits");
  if (ref.raw_len == 0 || ref.raw_len > kMaxChunkBytes)
    corrupt(what, where + ": raw_len " + std::to_string(ref.raw_len) + " outside [1, " + std::to_string(kMaxChunkBytes) + "]");
  if (ref.codec == Codec::Raw ? ref.stored_len != ref.raw_len : (ref.stored_len == 0 || ref.stored_len >= ref.raw_len))
    corrupt(what, where + ": stored_len " + std::to_string(ref.stored_len) + " impossible for a " + codec_name(ref.codec) +
                      " chunk of " + std::to_string(ref.raw_len) + " raw bytes");
  // Before anything is allocated for it: a zstd frame of stored_len bytes
  // cannot decode to more than stored_len * kMaxZstdExpansion bytes
  // (format_limits.h says why). No overflow: stored_len < raw_len <= 2^28.
  if (ref.codec != Codec::Raw && ref.raw_len > ref.stored_len * kMaxZstdExpansion)
    corrupt(what, where + ": raw length " + std::to_string(ref.raw_len) + " cannot come from " + std::to_string(ref.stored_len) +
                      " stored bytes (" + codec_name(ref.codec) + " expands at most " + std::to_string(kMaxZstdExpansion) +
                      "-fold)");
  if (ref.offset % kAlignment != 0 || ref.offset < kHeaderSize)
    corrupt(what, where + ": offset " + std::to_string(ref.offset) + " is not a 64-byte aligned offset past the header");
  // raw_len <= kMaxChunkBytes and offset < 2^64 - 2^28 can't overflow here once offset is below data_end.
  if (ref.offset > data_end || ref.stored_len > data_end - ref.offset)
    corrupt(what, where + ": offset " + std::to_string(ref.offset) + " + " + std::to_string(ref.stored_len) +
                      " past end of data " + std::to_string(data_end));
  return ref;
}

TensorEntry parse_tensor(const JsonValue& t, size_t index, const std::string& what, uint64_t data_end) {
  std::string where = "tensor " + std::to_string(index);
  if (!t.is_object()) corrupt(what, where + ": must be an object");
  TensorEntry e;
  e.name = member_of_kind(t, "name", JsonValue::Kind::String, what, where).as_string();
  where = "tensor " + quoted(e.name);
  const std::string& dtype = member_of_kind(t, "dtype", JsonValue::Kind::String, what, where).as_string();
  if (!dtype_from_name(dtype, &e.dtype))
    throw Error(ErrorCode::Version, what + ": " + where + ": unknown dtype " + quoted(dtype) + " (the file needs a newer release)");
  for (const JsonValue& d : member_of_kind(t, "shape", JsonValue::Kind::Array, what, where).items()) {
    uint64_t dim;
    if (!d.as_uint64(&dim)) corrupt(what, where + ": shape entries must be non-negative integers");
    e.shape.push_back(dim);
  }
  e.nbytes = member_uint(t, "nbytes", what, where);
  try {
    check_tensor_shape(e.name, e.dtype, e.shape, e.nbytes);
  } catch (const Error& err) {
    corrupt(what, err.what());
  }
  uint64_t covered = 0;
  const auto& chunks = member_of_kind(t, "chunks", JsonValue::Kind::Array, what, where).items();
  for (size_t i = 0; i < chunks.size(); i++) {
    ChunkRef ref = parse_chunk(chunks[i], what, "chunk " + std::to_string(i) + " of " + quoted(e.name), data_end);
    covered += ref.raw_len;  // <= 2^28 per chunk, chunks bounded by the index size: no overflow
    if (covered > e.nbytes) break;
    e.chunks.push_back(ref);
  }
  if (covered != e.nbytes)
    corrupt(what, where + ": chunks hold " + (covered > e.nbytes ? "more than" : std::to_string(covered)) +
                      " raw bytes, nbytes is " + std::to_string(e.nbytes));
  return e;
}

}  // namespace

const char* dtype_name(Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

size_t dtype_size(Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.size;
  return 1;
}

bool dtype_from_name(std::string_view name, Dtype* out) {
  for (const auto& d : kDtypes)
    if (name == d.name) {
      *out = d.dtype;
      return true;
    }
  return false;
}

void encode_header(uint8_t out[kHeaderSize]) {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kHeaderMagic, 8);
  put_u32(out + 8, kFormatVersion);
  put_u32(out + 12, 0);  // flags: none defined in version 1
}

void encode_footer(const Footer& footer, uint8_t out[kFooterSize]) {
  put_u64(out, footer.index_offset);
  put_u64(out + 8, footer.index_len);
  put_u64(out + 16, footer.index_hash);
  put_u32(out + 24, kFormatVersion);
  put_u32(out + 28, 0);
  std::memcpy(out + 32, kFooterMagic, 8);
}

Footer parse_header_footer(const uint8_t* header, const uint8_t* footer, uint64_t file_size, const std::string& what) {
  if (std::memcmp(header, kHeaderMagic, 8) != 0) corrupt(what, "not a tensorkeep checkpoint (bad header magic)");
  if (std::memcmp(footer + 32, kFooterMagic, 8) != 0)
    corrupt(what, "bad footer magic: the file is truncated or was never completely written");
  uint32_t header_version = get_u32(header + 8), footer_version = get_u32(footer + 24);
  // A single flipped bit must read as corruption, not as a newer format: a
  // version counts only when header and footer agree on it.
  if (header_version != footer_version)
    corrupt(what, "header says format version " + std::to_string(header_version) + ", footer says " +
                      std::to_string(footer_version));
  if (header_version != kFormatVersion)
    throw Error(ErrorCode::Version, what + ": file format version " + std::to_string(header_version) +
                                        " is not readable by this tensorkeep, which reads format version " +
                                        std::to_string(kFormatVersion) + "; upgrade to a release that reads format " +
                                        std::to_string(header_version));
  if (get_u32(header + 12) != 0) corrupt(what, "header flags " + std::to_string(get_u32(header + 12)) + " set; version 1 defines none");
  for (uint64_t i = 16; i < kHeaderSize; i++)
    if (header[i] != 0) corrupt(what, "header padding byte " + std::to_string(i) + " is not zero");
  if (get_u32(footer + 28) != 0) corrupt(what, "footer reserved field is not zero");
  Footer f{get_u64(footer), get_u64(footer + 8), get_u64(footer + 16)};
  if (f.index_len > kMaxIndexBytes)
    corrupt(what, "index length " + std::to_string(f.index_len) + " exceeds the limit of " + std::to_string(kMaxIndexBytes));
  if (f.index_offset < kHeaderSize || f.index_offset > file_size ||
      file_size - f.index_offset != f.index_len + kFooterSize)
    corrupt(what, "index at " + std::to_string(f.index_offset) + " + " + std::to_string(f.index_len) +
                      " does not end where the footer starts (file is " + std::to_string(file_size) + " bytes)");
  return f;
}

void check_tensor_shape(const std::string& name, Dtype dtype, const std::vector<uint64_t>& shape, uint64_t nbytes) {
  std::string where = "tensor " + quoted(name);
  if (name.empty()) throw Error(ErrorCode::BadInput, "tensor name is empty");
  if (name.size() > kMaxNameBytes)
    throw Error(ErrorCode::BadInput, "tensor name of " + std::to_string(name.size()) + " bytes exceeds " + std::to_string(kMaxNameBytes));
  if (shape.size() > kMaxDims)
    throw Error(ErrorCode::BadInput, where + ": " + std::to_string(shape.size()) + " dimensions exceed " + std::to_string(kMaxDims));
  uint64_t elements = 1;
  for (uint64_t dim : shape) {
    if (dim != 0 && elements > kMaxTensorBytes / dim)
      throw Error(ErrorCode::BadInput, where + ": shape holds more than 2^53 bytes");
    elements *= dim;
  }
  if (elements > kMaxTensorBytes / dtype_size(dtype))
    throw Error(ErrorCode::BadInput, where + ": shape holds more than 2^53 bytes");
  if (elements * dtype_size(dtype) != nbytes)
    throw Error(ErrorCode::BadInput, where + ": shape and " + dtype_name(dtype) + " need " +
                                         std::to_string(elements * dtype_size(dtype)) + " bytes, nbytes is " + std::to_string(nbytes));
}

std::vector<TensorEntry> parse_index(std::string_view json, uint64_t data_end, const std::string& what) {
  JsonValue root;
  try {
    root = parse_json(json);
  } catch (const Error& err) {
    corrupt(what, err.what());
  }
  if (!root.is_object()) corrupt(what, "index JSON is not an object");
  uint64_t version = member_uint(root, "format_version", what, "index");
  if (version != kFormatVersion)
    corrupt(what, "index says format version " + std::to_string(version) + ", header says " + std::to_string(kFormatVersion));
  const auto& items = member_of_kind(root, "tensors", JsonValue::Kind::Array, what, "index").items();
  std::vector<TensorEntry> tensors;
  tensors.reserve(items.size());
  std::unordered_set<std::string> names;
  struct Extent { uint64_t begin, end; };
  std::vector<Extent> extents;
  for (size_t i = 0; i < items.size(); i++) {
    tensors.push_back(parse_tensor(items[i], i, what, data_end));
    if (!names.insert(tensors.back().name).second) corrupt(what, "tensor name " + quoted(tensors.back().name) + " appears twice");
    for (const ChunkRef& c : tensors.back().chunks) extents.push_back({c.offset, c.offset + c.stored_len});
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < extents.size(); i++)
    if (extents[i].begin < extents[i - 1].end)
      corrupt(what, "chunks at " + std::to_string(extents[i - 1].begin) + " and " + std::to_string(extents[i].begin) + " overlap");
  return tensors;
}

void append_tensor_json(const TensorEntry& t, std::string* out) {
  *out += "{\"name\":";
  json_escape(t.name, out);
  *out += ",\"dtype\":\"";
  *out += dtype_name(t.dtype);
  *out += "\",\"shape\":[";
  for (size_t i = 0; i < t.shape.size(); i++) *out += (i ? "," : "") + std::to_string(t.shape[i]);
  *out += "],\"nbytes\":" + std::to_string(t.nbytes) + ",\"chunks\":[";
  for (size_t i = 0; i < t.chunks.size(); i++) {
    const ChunkRef& c = t.chunks[i];
    *out += (i ? ",[" : "[") + std::to_string(c.offset) + "," + std::to_string(c.stored_len) + "," + std::to_string(c.raw_len) +
            ",\"" + codec_name(c.codec) + "\",\"" + hash_hex(c.hash) + "\"]";
  }
  *out += "]}";
}

}  // namespace tk
