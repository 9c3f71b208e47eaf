// core/format + writer + reader: round trips of real files, then hostile
// files assembled by hand (valid footer checksum, so each reaches the check
// it targets) that must fail with the right code and a message naming the
// file and the problem.
#include <cstdint>
#include <string>
#include <vector>

#include "format.h"
#include "reader.h"
#include "test_util.h"
#include "writer.h"

using tk::Codec;
using tk::Dtype;
using tk::ErrorCode;
using Bytes = std::vector<uint8_t>;

static void test_dtypes() {
  const char* names[] = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
                         "int8",    "uint64",  "uint32",  "uint16",   "uint8", "bool"};
  const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 8, 4, 2, 1, 1};
  for (size_t i = 0; i < 13; i++) {
    Dtype d;
    CHECK(tk::dtype_from_name(names[i], &d) && d == Dtype(i));
    CHECK(std::string(tk::dtype_name(d)) == names[i] && tk::dtype_size(d) == sizes[i]);
  }
  Dtype d;
  CHECK(!tk::dtype_from_name("F32", &d) && !tk::dtype_from_name("float", &d));
  CHECK(tk::align_up(0) == 0 && tk::align_up(1) == 64 && tk::align_up(64) == 64 && tk::align_up(65) == 128);

  CHECK_THROWS_CODE(tk::check_tensor_shape("", Dtype::F32, {}, 4), ErrorCode::BadInput, "name is empty");
  CHECK_THROWS_CODE(tk::check_tensor_shape(std::string(1025, 'n'), Dtype::U8, {}, 1), ErrorCode::BadInput, "exceeds 1024");
  CHECK_THROWS_CODE(tk::check_tensor_shape("t", Dtype::U8, std::vector<uint64_t>(33, 1), 1), ErrorCode::BadInput,
                    "33 dimensions exceed 32");
  CHECK_THROWS_CODE(tk::check_tensor_shape("t", Dtype::U8, {1ull << 32, 1ull << 32}, 0), ErrorCode::BadInput, "2^53");
  CHECK_THROWS_CODE(tk::check_tensor_shape("t", Dtype::F64, {1ull << 51}, 0), ErrorCode::BadInput, "2^53");
  CHECK_THROWS_CODE(tk::check_tensor_shape("t", Dtype::F32, {2, 3}, 25), ErrorCode::BadInput,
                    "float32 need 24 bytes, nbytes is 25");
  tk::check_tensor_shape("t", Dtype::F32, {1ull << 40, 0, 1ull << 40}, 0);  // a zero dim makes any shape empty
  tk::check_tensor_shape("t", Dtype::I64, {}, 8);                           // 0-d: one element
}

struct Source {
  std::string name;
  Dtype dtype;
  std::vector<uint64_t> shape;
  Bytes data;
};

static std::vector<Source> sample_tensors() {
  Bytes flags = {0, 1, 1, 0, 1};
  return {
      {"w", Dtype::F32, {64, 100}, tkt::compressible_bytes(25600)},
      {"layer.0/\"q\"\xC3\xA9", Dtype::F64, {3}, tkt::random_bytes(24, 1)},
      {"h", Dtype::BF16, {7, 3}, tkt::random_bytes(42, 2)},
      {"i8", Dtype::I8, {1000}, tkt::compressible_bytes(1000)},
      {"flag", Dtype::Bool, {5}, flags},
      {"scalar", Dtype::I64, {}, tkt::random_bytes(8, 3)},
      {"empty", Dtype::F32, {0}, {}},
      {"empty2", Dtype::U16, {4, 0, 2}, {}},
      {"big", Dtype::U32, {5000}, tkt::compressible_bytes(20000)},
      {"noise", Dtype::U8, {9000}, tkt::random_bytes(9000, 4)},
  };
}

static std::vector<tk::TensorSource> as_sources(const std::vector<Source>& v) {
  std::vector<tk::TensorSource> out;
  for (const Source& s : v) out.push_back({s.name, s.dtype, s.shape, s.data.data(), s.data.size()});
  return out;
}

static void test_round_trip() {
  tkt::TempDir dir;
  std::vector<Source> tensors = sample_tensors();
  int n = 0;
  for (Codec codec : {Codec::Raw, Codec::Zstd, Codec::ShuffleZstd}) {
    for (uint64_t chunk_bytes : {uint64_t(4096), tk::kDefaultChunkBytes}) {
      for (int threads : {1, 2}) {
        std::string path = dir / ("rt" + std::to_string(n++) + ".tkpt");
        tk::WriteOptions opt;
        opt.codec = codec;
        opt.chunk_bytes = chunk_bytes;
        opt.threads = threads;
        tk::WriteResult wr = tk::write_checkpoint(path, as_sources(tensors), R"({"step": 7, "meta": {"a": "}"}})", opt);
        CHECK(tkt::list_dir(dir / ".tmp").empty());

        tk::CheckpointReader r(path);
        CHECK(r.file_size() == wr.file_bytes && r.index_json() == wr.index_json);
        CHECK(tkt::contains(r.index_json(), "\"step\": 7") && tkt::contains(r.index_json(), "\"a\": \"}\""));
        CHECK(tkt::contains(r.index_json(), std::string("\"codec\":{\"name\":\"") + tk::codec_name(codec) + "\""));
        CHECK(r.tensors().size() == tensors.size());
        if (r.tensors().size() != tensors.size()) return;
        uint64_t raw_total = 0;
        std::vector<Bytes> out(tensors.size());
        std::vector<tk::CheckpointReader::Target> targets;
        for (size_t i = 0; i < tensors.size(); i++) {
          const tk::TensorEntry& e = r.tensors()[i];
          const Source& s = tensors[i];
          CHECK(e.name == s.name && e.dtype == s.dtype && e.shape == s.shape && e.nbytes == s.data.size());
          CHECK(e.chunks.size() == (s.data.size() + chunk_bytes - 1) / chunk_bytes);
          for (const tk::ChunkRef& c : e.chunks) CHECK(c.offset % 64 == 0 && (codec != Codec::Raw || c.codec == Codec::Raw));
          if (s.name == "noise") CHECK(e.chunks[0].codec == Codec::Raw);  // incompressible: raw fallback
          if (s.name == "w" && codec != Codec::Raw) CHECK(e.chunks[0].codec == codec);
          raw_total += e.nbytes;
          out[i].assign(e.nbytes, 0xEE);
          targets.push_back({i, out[i].data(), out[i].size()});
        }
        CHECK(wr.raw_bytes == raw_total);
        r.decode(targets, true, threads);
        bool equal = true;
        for (size_t i = 0; i < tensors.size(); i++) equal &= out[i] == tensors[i].data;
        CHECK(equal);
        r.verify_all(threads);
        // Decoding a subset, in another order, without verification.
        Bytes big(20000);
        r.decode({{8, big.data(), big.size()}, {7, nullptr, 0}}, false, 2);
        CHECK(big == tensors[8].data);
      }
    }
  }
  std::string path = dir / "rt0.tkpt";
  tk::CheckpointReader r(path);
  Bytes small(3);
  CHECK_THROWS_CODE(r.decode({{0, small.data(), 3}}, true, 1), ErrorCode::BadInput, "has 3 bytes, the tensor has 25600");
  CHECK_THROWS_CODE(r.decode({{10, small.data(), 3}}, true, 1), ErrorCode::BadInput, "tensor position 10 out of range");

  // No tensors and an empty head.
  for (const char* head : {"{}", " { \n} "}) {
    tk::write_checkpoint(dir / "none.tkpt", {}, head, tk::WriteOptions());
    tk::CheckpointReader none(dir / "none.tkpt");
    CHECK(none.tensors().empty());
    none.verify_all(2);
    std::remove((dir / "none.tkpt").c_str());
  }
}

// Enough bytes that the writer and reader really use two threads (small
// checkpoints are coded on the calling thread alone).
static void test_round_trip_two_threads() {
  tkt::TempDir dir;
  Bytes w = tkt::compressible_bytes(3 << 20), noise = tkt::random_bytes(1 << 20, 5);
  for (Codec codec : {Codec::Zstd, Codec::ShuffleZstd}) {
    tk::WriteOptions opt;
    opt.codec = codec;
    opt.chunk_bytes = 64 << 10;
    opt.threads = 2;
    std::string path = dir / (std::string(tk::codec_name(codec)) + ".tkpt");
    tk::write_checkpoint(path, {{"w", Dtype::F32, {3 << 18}, w.data(), w.size()}, {"n", Dtype::U8, {1 << 20}, noise.data(), noise.size()}},
                         "{}", opt);
    tk::CheckpointReader r(path);
    CHECK(r.tensors().size() == 2 && r.tensors()[0].chunks.size() == 48 && r.tensors()[1].chunks.size() == 16);
    Bytes w2(w.size()), n2(noise.size());
    r.decode({{1, n2.data(), n2.size()}, {0, w2.data(), w2.size()}}, true, 2);
    CHECK(w2 == w && n2 == noise);
    r.verify_all(2);
  }
}

static void test_writer_rejects() {
  tkt::TempDir dir;
  std::string path = dir / "bad.tkpt";
  Bytes data(16);
  auto write = [&](std::vector<tk::TensorSource> t, const char* head, tk::WriteOptions o) {
    tk::write_checkpoint(path, t, head, o);
  };
  tk::TensorSource ok{"t", Dtype::F32, {4}, data.data(), 16};
  tk::WriteOptions opt, bad_chunk, bad_level;
  bad_chunk.chunk_bytes = 5000;
  bad_level.level = 20;
  CHECK_THROWS_CODE(write({ok}, "{}", bad_chunk), ErrorCode::BadInput, "chunkBytes must be a multiple of 64");
  CHECK_THROWS_CODE(write({ok}, "{}", bad_level), ErrorCode::BadInput, "level must be in [1, 19], got 20");
  CHECK_THROWS_CODE(write({ok}, "[]", opt), ErrorCode::BadInput, "head JSON must be an object");
  CHECK_THROWS_CODE(write({ok}, "{", opt), ErrorCode::BadInput, "head JSON: index JSON: unexpected end");
  CHECK_THROWS_CODE(write({ok}, R"({"tensor\u0073": 1})", opt), ErrorCode::BadInput, "must not set \"tensors\"");
  CHECK_THROWS_CODE(write({ok, ok}, "{}", opt), ErrorCode::BadInput, "\"t\" appears twice");
  CHECK_THROWS_CODE(write({{"t", Dtype::F32, {5}, data.data(), 16}}, "{}", opt), ErrorCode::BadInput, "need 20 bytes");
  CHECK_THROWS_CODE(write({{"t", Dtype::U8, {16}, nullptr, 16}}, "{}", opt), ErrorCode::BadInput, "has no data");
  CHECK(!tkt::exists(path) && !tkt::exists(dir / ".tmp"));  // rejected before touching the disk
}

// ---- hostile files ----------------------------------------------------------

static void put_le(std::string* s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) (*s)[at + size_t(i)] = char(v >> (8 * i));
}

// Data region of the hand-built files: tensor "a" (float32[4]) at 64, "b"
// (uint8[10]) at 128; the index starts at kDataEnd.
static const Bytes kA = tkt::random_bytes(16, 10), kB = tkt::random_bytes(10, 11);
static constexpr uint64_t kDataEnd = 138;

static std::string hex(const Bytes& b) { return tk::hash_hex(tk::xxh3_64(b.data(), b.size())); }

static std::string chunk(uint64_t offset, uint64_t stored, uint64_t raw, const std::string& codec, const std::string& hash) {
  return "[" + std::to_string(offset) + "," + std::to_string(stored) + "," + std::to_string(raw) + ",\"" + codec + "\",\"" +
         hash + "\"]";
}

static std::string tensor(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t nbytes,
                          const std::string& chunks) {
  return "{\"name\":\"" + name + "\",\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"nbytes\":" + std::to_string(nbytes) + ",\"chunks\":[" + chunks + "]}";
}

static const std::string kTensorA = tensor("a", "float32", "[4]", 16, chunk(64, 16, 16, "raw", hex(kA)));
static const std::string kTensorB = tensor("b", "uint8", "[10]", 10, chunk(128, 10, 10, "raw", hex(kB)));

static std::string index_of(const std::string& tensors) { return "{\"format_version\":1,\"tensors\":[" + tensors + "]}"; }

// Header, data region, `index` and a footer whose checksum matches it.
static std::string build_file(const std::string& index) {
  uint8_t header[tk::kHeaderSize], footer[tk::kFooterSize];
  tk::encode_header(header);
  std::string file(reinterpret_cast<char*>(header), tk::kHeaderSize);
  file.append(kA.begin(), kA.end());
  file.resize(128, '\0');
  file.append(kB.begin(), kB.end());
  file += index;
  tk::encode_footer({kDataEnd, index.size(), tk::xxh3_64(index.data(), index.size())}, footer);
  return file.append(reinterpret_cast<char*>(footer), tk::kFooterSize);
}

// Opening the file must fail with `code`, naming the file and `needle`.
static std::string expect_open_error(const std::string& bytes, ErrorCode code, const std::string& needle) {
  tkt::TempDir dir;
  std::string path = dir / "hostile.tkpt";
  tkt::write_file(path, bytes);
  std::string m = CHECK_THROWS_CODE(tk::CheckpointReader{path}, code, needle);
  CHECK(m.rfind(path + ": ", 0) == 0);
  return m;
}

static void test_hand_built_baseline() {
  tkt::TempDir dir;
  tkt::write_file(dir / "ok.tkpt", build_file(index_of(kTensorA + "," + kTensorB)));
  tk::CheckpointReader r(dir / "ok.tkpt");
  CHECK(r.tensors().size() == 2);
  r.verify_all(1);
  Bytes a(16), b(10);
  r.decode({{0, a.data(), 16}, {1, b.data(), 10}}, true, 2);
  CHECK(a == kA && b == kB);

  // Flipped tensor bytes: the file opens, verification names the chunk.
  std::string flipped = build_file(index_of(kTensorA + "," + kTensorB));
  flipped[130] ^= 1;
  tkt::write_file(dir / "flip.tkpt", flipped);
  tk::CheckpointReader f(dir / "flip.tkpt");
  std::string m = CHECK_THROWS_CODE(f.verify_all(2), ErrorCode::Corrupt, "chunk 0 of \"b\": checksum mismatch");
  CHECK(tkt::contains(m, dir / "flip.tkpt"));
  CHECK_THROWS_CODE(f.decode({{1, b.data(), 10}}, true, 1), ErrorCode::Corrupt, "checksum mismatch");
  f.decode({{1, b.data(), 10}}, false, 1);  // unverified reads return the bytes as stored
  CHECK(b[2] == (kB[2] ^ 1));
}

static void test_hostile_chunks() {
  auto b_with = [](const std::string& c) { return build_file(index_of(kTensorA + "," + tensor("b", "uint8", "[10]", 10, c))); };
  std::string hb = hex(kB);
  expect_open_error(b_with(chunk(192, 10, 10, "raw", hb)), ErrorCode::Corrupt, "offset 192 + 10 past end of data 138");
  expect_open_error(b_with(chunk(128, 100, 100, "raw", hb)), ErrorCode::Corrupt, "past end of data");
  expect_open_error(b_with(chunk(18446744073709551552ull, 10, 10, "raw", hb)), ErrorCode::Corrupt, "past end of data");
  expect_open_error(b_with(chunk(64, 10, 10, "raw", hb)), ErrorCode::Corrupt, "chunks at 64 and 64 overlap");
  expect_open_error(build_file(index_of(tensor("a", "float32", "[4]", 16, chunk(64, 16, 16, "raw", hex(kA))) + "," +
                                        tensor("c", "uint8", "[8]", 8, chunk(64 + 8, 8, 8, "raw", hb)))),
                    ErrorCode::Corrupt, "not a 64-byte aligned");
  expect_open_error(b_with(chunk(130, 8, 8, "raw", hb) + "," + chunk(128, 2, 2, "raw", hb)), ErrorCode::Corrupt,
                    "offset 130 is not a 64-byte aligned");
  expect_open_error(b_with(chunk(0, 10, 10, "raw", hb)), ErrorCode::Corrupt, "offset 0 is not a 64-byte aligned offset past the header");
  expect_open_error(b_with(chunk(128, 10, 10, "lz4", hb)), ErrorCode::Version, "unknown codec \"lz4\"");
  expect_open_error(b_with(chunk(128, 10, 10, "zstd", hb)), ErrorCode::Corrupt, "stored_len 10 impossible for a zstd chunk of 10 raw bytes");
  expect_open_error(b_with(chunk(128, 11, 10, "shuffle+zstd", hb)), ErrorCode::Corrupt, "impossible for a shuffle+zstd chunk");
  expect_open_error(b_with(chunk(128, 0, 10, "zstd", hb)), ErrorCode::Corrupt, "stored_len 0 impossible");
  expect_open_error(b_with(chunk(128, 9, 10, "raw", hb)), ErrorCode::Corrupt, "stored_len 9 impossible for a raw chunk");
  expect_open_error(b_with(chunk(128, 0, 0, "raw", hb)), ErrorCode::Corrupt, "raw_len 0 outside [1, 268435456]");
  expect_open_error(b_with(chunk(128, 10, 268435457, "zstd", hb)), ErrorCode::Corrupt, "raw_len 268435457 outside");
  expect_open_error(b_with(chunk(128, 10, 10, "raw", "ABCDEF0123456789")), ErrorCode::Corrupt, "xxh3 must be 16 lowercase hex");
  expect_open_error(b_with("[128,10,10,\"raw\"]"), ErrorCode::Corrupt, "chunk 0 of \"b\": must be [offset");
  expect_open_error(b_with("[128,-10,10,\"raw\",\"" + hb + "\"]"), ErrorCode::Corrupt, "must be non-negative integers");
  expect_open_error(b_with("[128,10,10,7,\"" + hb + "\"]"), ErrorCode::Corrupt, "codec must be a string");
  // The index's chunks must add up to nbytes, which must match the shape.
  expect_open_error(b_with(chunk(128, 8, 8, "raw", hb)), ErrorCode::Corrupt, "chunks hold 8 raw bytes, nbytes is 10");
  expect_open_error(b_with(chunk(128, 10, 10, "raw", hb) + "," + chunk(64, 10, 10, "raw", hb)), ErrorCode::Corrupt,
                    "chunks hold more than raw bytes, nbytes is 10");
  expect_open_error(build_file(index_of(tensor("b", "float32", "[10]", 10, chunk(128, 10, 10, "raw", hb)))),
                    ErrorCode::Corrupt, "float32 need 40 bytes, nbytes is 10");
  expect_open_error(build_file(index_of(tensor("b", "int16", "[5]", 10, chunk(128, 10, 10, "raw", hb)) + "," +
                                        tensor("e", "int16", "[0]", 0, chunk(64, 16, 16, "raw", hex(kA))))),
                    ErrorCode::Corrupt, "chunks hold more than raw bytes, nbytes is 0");
}

static void test_hostile_index() {
  std::string both = kTensorA + "," + kTensorB;
  expect_open_error(build_file(index_of(kTensorA + "," + tensor("a", "uint8", "[10]", 10, chunk(128, 10, 10, "raw", hex(kB))))),
                    ErrorCode::Corrupt, "tensor name \"a\" appears twice");
  expect_open_error(build_file(index_of(tensor("", "uint8", "[10]", 10, chunk(128, 10, 10, "raw", hex(kB))))),
                    ErrorCode::Corrupt, "tensor name is empty");
  expect_open_error(build_file(index_of(tensor("b", "float8", "[10]", 10, chunk(128, 10, 10, "raw", hex(kB))))),
                    ErrorCode::Version, "unknown dtype \"float8\"");
  expect_open_error(build_file(index_of(tensor("b", "uint8", "[10.0]", 10, chunk(128, 10, 10, "raw", hex(kB))))),
                    ErrorCode::Corrupt, "shape entries must be non-negative integers");
  expect_open_error(build_file("{\"format_version\":1,\"tensors\":[" + kTensorA), ErrorCode::Corrupt,
                    "index JSON: unexpected end of input at byte");
  expect_open_error(build_file("{\"format_version\":1,\"tensors\":[" + both + "]} x"), ErrorCode::Corrupt,
                    "index JSON: trailing characters");
  expect_open_error(build_file("[" + both + "]"), ErrorCode::Corrupt, "index JSON is not an object");
  expect_open_error(build_file("{\"format_version\":1,\"tensors\":[],\"tensors\":[" + both + "]}"), ErrorCode::Corrupt,
                    "index JSON: duplicate key \"tensors\" at byte 33");
  expect_open_error(build_file("{\"format_version\":1}"), ErrorCode::Corrupt, "\"tensors\" must be array, missing");
  expect_open_error(build_file("{\"format_version\":1,\"tensors\":{}}"), ErrorCode::Corrupt, "\"tensors\" must be array, found object");
  expect_open_error(build_file("{\"tensors\":[]}"), ErrorCode::Corrupt, "\"format_version\" must be a non-negative integer, missing");
  expect_open_error(build_file("{\"format_version\":2,\"tensors\":[]}"), ErrorCode::Corrupt, "index says format version 2");
  expect_open_error(build_file(index_of("[]")), ErrorCode::Corrupt, "tensor 0: must be an object");
  expect_open_error(build_file(index_of("{\"name\":\"x\",\"dtype\":\"uint8\",\"shape\":[1],\"chunks\":[]}")), ErrorCode::Corrupt,
                    "tensor \"x\": \"nbytes\" must be a non-negative integer, missing");
}

static void test_hostile_header_footer() {
  const std::string good = build_file(index_of(kTensorA + "," + kTensorB));
  const size_t footer = good.size() - tk::kFooterSize;
  auto patched = [&](size_t at, uint64_t v, int bytes) {
    std::string s = good;
    put_le(&s, at, v, bytes);
    return s;
  };
  // Versions count only when header and footer agree.
  std::string v2 = patched(8, 2, 4);
  put_le(&v2, footer + 24, 2, 4);
  std::string m = expect_open_error(v2, ErrorCode::Version, "file format version 2 is not readable");
  CHECK(tkt::contains(m, "reads format version 1") && tkt::contains(m, "upgrade to a release that reads format 2"));
  expect_open_error(patched(8, 2, 4), ErrorCode::Corrupt, "header says format version 2, footer says 1");
  expect_open_error(patched(footer + 24, 2, 4), ErrorCode::Corrupt, "header says format version 1, footer says 2");

  expect_open_error(patched(footer + 8, 4ull << 30, 8), ErrorCode::Corrupt, "index length 4294967296 exceeds the limit of 67108864");
  expect_open_error(patched(footer + 8, ~0ull, 8), ErrorCode::Corrupt, "exceeds the limit");
  expect_open_error(patched(footer, kDataEnd + 1, 8), ErrorCode::Corrupt, "does not end where the footer starts");
  expect_open_error(patched(footer, 0, 8), ErrorCode::Corrupt, "index at 0 + ");
  expect_open_error(patched(footer, ~0ull, 8), ErrorCode::Corrupt, "does not end where the footer starts");
  expect_open_error(patched(footer + 16, 12345, 8), ErrorCode::Corrupt, "index checksum mismatch (footer says 0000000000003039");
  expect_open_error(patched(0, 'X', 1), ErrorCode::Corrupt, "not a tensorkeep checkpoint (bad header magic)");
  expect_open_error(patched(good.size() - 1, 'X', 1), ErrorCode::Corrupt, "bad footer magic");
  expect_open_error(patched(12, 1, 4), ErrorCode::Corrupt, "header flags 1 set");
  expect_open_error(patched(63, 1, 1), ErrorCode::Corrupt, "header padding byte 63 is not zero");
  expect_open_error(patched(footer + 28, 1, 4), ErrorCode::Corrupt, "footer reserved field is not zero");
  // Truncation anywhere: a short file or a footer that no longer fits.
  expect_open_error(good.substr(0, 103), ErrorCode::Corrupt, "file is 103 bytes, too small");
  expect_open_error("", ErrorCode::Corrupt, "file is 0 bytes");
  expect_open_error(good.substr(0, good.size() - 1), ErrorCode::Corrupt, "bad footer magic");
  expect_open_error(good.substr(0, good.size() / 2) + good.substr(footer), ErrorCode::Corrupt, "does not end where the footer starts");
  expect_open_error(good + std::string(64, '\0'), ErrorCode::Corrupt, "bad footer magic");

  tkt::TempDir dir;
  CHECK_THROWS_CODE(tk::CheckpointReader(dir / "missing.tkpt"), ErrorCode::NotFound, "missing.tkpt");
  // A directory is no checkpoint: unreadable like a corrupt one, and said so.
  CHECK_THROWS_CODE(tk::CheckpointReader(dir.path()), ErrorCode::Corrupt, dir.path() + " is a directory, not a regular file");
}

// ---- what the writer refuses is what the reader refuses --------------------

// A zstd chunk cannot decode to more than 32768 times its stored bytes
// (format_limits.h): a larger claim is refused before anything is allocated.
static void test_expansion_bound() {
  std::string hb = hex(kB);
  auto b_with = [](const std::string& c, uint64_t n) {
    return build_file(index_of(kTensorA + "," + tensor("b", "uint8", "[" + std::to_string(n) + "]", n, c)));
  };
  expect_open_error(b_with(chunk(128, 10, 327681, "zstd", hb), 327681), ErrorCode::Corrupt,
                    "chunk 0 of \"b\": raw length 327681 cannot come from 10 stored bytes");
  expect_open_error(b_with(chunk(128, 10, 327681, "shuffle+zstd", hb), 327681), ErrorCode::Corrupt, "cannot come from 10 stored bytes");
  {  // exactly the bound opens (and then fails to decode, as a lie must)
    tkt::TempDir dir;
    tkt::write_file(dir / "f.tkpt", b_with(chunk(128, 10, 327680, "zstd", hb), 327680));
    tk::CheckpointReader r(dir / "f.tkpt");
    CHECK_THROWS_CODE(r.verify_all(1), ErrorCode::Corrupt, "zstd data does not decode");
  }
  // The file that blocked every resume: 4 KB claiming 64 chunks of 256 MiB.
  std::string chunks;
  for (int i = 0; i < 64; i++) chunks += (i ? "," : "") + chunk(64 + uint64_t(i) * 64, 64, 268435456, "zstd", hb);
  std::string big = build_file(index_of(tensor("w/embed", "uint8", "[17179869184]", 17179869184ull, chunks)));
  CHECK(big.size() < 8192);
  expect_open_error(big, ErrorCode::Corrupt, "chunk 0 of \"w/embed\": raw length 268435456 cannot come from 64 stored bytes");
  // A real zstd chunk at a high ratio stays readable: 256 KiB of one byte.
  tkt::TempDir dir;
  Bytes same(256 << 10, 7);
  tk::WriteOptions opt;
  opt.codec = Codec::Zstd;
  opt.chunk_bytes = same.size();
  tk::write_checkpoint(dir / "rle.tkpt", {{"z", Dtype::U8, {same.size()}, same.data(), same.size()}}, "{}", opt);
  tk::CheckpointReader r(dir / "rle.tkpt");
  const tk::ChunkRef& c = r.tensors()[0].chunks[0];
  CHECK(c.codec == Codec::Zstd && c.raw_len <= c.stored_len * tk::kMaxZstdExpansion);
  Bytes back(same.size());
  r.decode({{0, back.data(), back.size()}}, true, 1);
  CHECK(back == same);
}

static void test_bool_values() {
  tkt::TempDir dir;
  const std::string path = dir / "b.tkpt";
  Bytes mask(20000);
  for (size_t i = 0; i < mask.size(); i++) mask[i] = uint8_t(i % 3 == 0);
  for (Codec codec : {Codec::Raw, Codec::Zstd, Codec::ShuffleZstd})
    for (int threads : {1, 2}) {
      tk::WriteOptions opt;
      opt.codec = codec;
      opt.chunk_bytes = 4096;
      opt.threads = threads;
      Bytes bad = mask;
      bad[15000] = 255;
      bad[5001] = 2;  // the first bad element, in the second chunk
      CHECK_THROWS_CODE(tk::write_checkpoint(path, {{"m", Dtype::Bool, {bad.size()}, bad.data(), bad.size()}}, "{}", opt),
                        ErrorCode::BadInput, "tensor \"m\": bool element 5001 is 2; bool values must be 0 or 1");
      CHECK(!tkt::exists(path) && tkt::list_dir(dir / ".tmp").empty());  // nothing left behind
      tk::write_checkpoint(path, {{"m", Dtype::Bool, {mask.size()}, mask.data(), mask.size()}}, "{}", opt);
      Bytes back(mask.size());
      tk::CheckpointReader(path).decode({{0, back.data(), back.size()}}, true, threads);
      CHECK(back == mask);
      std::filesystem::remove(path);
    }
  // uint8 may hold anything: only bool is checked.
  Bytes any = tkt::random_bytes(100, 5);
  tk::write_checkpoint(path, {{"u", Dtype::U8, {100}, any.data(), 100}}, "{}", {});

  // A file whose bool tensor holds other bytes under a matching checksum
  // (an older writer): verification says which element; unverified reads
  // return the bytes as stored.
  tkt::write_file(path, build_file(index_of(kTensorA + "," + tensor("b", "bool", "[10]", 10, chunk(128, 10, 10, "raw", hex(kB))))));
  tk::CheckpointReader r(path);
  size_t first_bad = 0;
  while (kB[first_bad] <= 1) first_bad++;
  CHECK_THROWS_CODE(r.verify_all(1), ErrorCode::Corrupt,
                    "chunk 0 of \"b\": bool element " + std::to_string(first_bad) + " is " + std::to_string(kB[first_bad]) + ", not 0 or 1");
  Bytes b(10);
  CHECK_THROWS_CODE(r.decode({{1, b.data(), 10}}, true, 1), ErrorCode::Corrupt, "not 0 or 1");
  r.decode({{1, b.data(), 10}}, false, 1);
  CHECK(b == kB);
}

static void test_writer_enforces_reader_limits() {
  tkt::TempDir dir;
  const std::string path = dir / "l.tkpt";
  Bytes data(16);
  tk::TensorSource t{"t", Dtype::F32, {4}, data.data(), 16};
  // The largest head whose index fits is written and reads back; one byte
  // more is refused before any file (or .tmp) exists. With the raw codec
  // the writer's bound is the exact size.
  auto head_of = [](size_t meta_bytes) { return "{\"meta\":\"" + std::string(meta_bytes, 'm') + "\"}"; };
  tk::WriteOptions raw;
  raw.codec = Codec::Raw;
  tk::WriteResult small = tk::write_checkpoint(path, {t}, head_of(0), raw);
  const size_t fit = size_t(tk::kMaxIndexBytes - small.index_json.size());
  std::filesystem::remove_all(dir / ".tmp");
  std::filesystem::remove(path);
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {t}, head_of(fit + 1), raw), ErrorCode::BadInput,
                    "would take 67108865 bytes, over the limit of 67108864");
  CHECK(!tkt::exists(path) && !tkt::exists(dir / ".tmp"));
  tk::WriteResult full = tk::write_checkpoint(path, {t}, head_of(fit), raw);
  CHECK(full.index_json.size() == tk::kMaxIndexBytes);
  tk::CheckpointReader(path).verify_all(1);
  // The ~70 MB meta that used to be written and then never load.
  CHECK_THROWS_CODE(tk::write_checkpoint(dir / "m.tkpt", {t}, head_of(70000000), {}), ErrorCode::BadInput,
                    "exceeds the index limit of 67108864");
  CHECK(!tkt::exists(dir / "m.tkpt"));
  // Many chunks count too: a 4 KiB-chunked tensor whose chunk table alone
  // would exceed the limit is refused (without reading its data).
  tk::WriteOptions tiny;
  tiny.chunk_bytes = tk::kMinChunkBytes;
  const uint64_t huge = (uint64_t(1) << 40);  // 2^28 chunks
  static uint8_t never_read;
  CHECK_THROWS_CODE(tk::write_checkpoint(dir / "c.tkpt", {{"h", Dtype::U8, {huge}, &never_read, huge}}, "{}", tiny),
                    ErrorCode::BadInput, "over the limit of 67108864");
  // Names the JSON index cannot hold, levels and codecs out of range.
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {{"bad\xff", Dtype::F32, {4}, data.data(), 16}}, "{}", {}), ErrorCode::BadInput,
                    "is not valid UTF-8");
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {{std::string(tk::kMaxNameBytes + 1, 'n'), Dtype::F32, {4}, data.data(), 16}}, "{}", {}),
                    ErrorCode::BadInput, "exceeds 1024");
  tk::WriteOptions bad;
  bad.level = tk::kMinLevel - 1;
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {t}, "{}", bad), ErrorCode::BadInput, "level must be in [1, 19], got 0");
  bad.level = 1;
  bad.codec = Codec(7);
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {t}, "{}", bad), ErrorCode::BadInput, "unknown codec 7");
  std::vector<uint64_t> dims(tk::kMaxDims + 1, 1);
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {{"d", Dtype::U8, dims, data.data(), 1}}, "{}", {}), ErrorCode::BadInput,
                    "33 dimensions exceed 32");
  // Nesting deeper than the reader's parser takes.
  std::string deep = "{\"meta\":" + std::string(tk::kMaxJsonDepth, '[') + std::string(tk::kMaxJsonDepth, ']') + "}";
  CHECK_THROWS_CODE(tk::write_checkpoint(path, {t}, deep, {}), ErrorCode::BadInput, "nesting deeper than 64");
}

int main() {
  return tkt::run("format_test", {test_dtypes, test_round_trip, test_round_trip_two_threads, test_writer_rejects, test_hand_built_baseline,
                                  test_hostile_chunks, test_hostile_index, test_hostile_header_footer, test_expansion_bound,
                                  test_bool_values, test_writer_enforces_reader_limits});
}
