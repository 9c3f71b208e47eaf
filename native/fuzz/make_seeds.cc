// Writes the seed corpus of reader_fuzz: small valid checkpoints covering
// each codec, multi-chunk tensors, 0-d and empty tensors, a chunk near the
// zstd expansion bound and zstd-coded bools, two hand-made lies (a chunk
// claiming more than zstd can expand into, a bool holding 2), plus one bare
// index JSON for the parser. Usage: make_seeds <dir> (native/fuzz/corpus). Seeds
// are named *.seed, not *.tkpt, which .gitignore leaves out of the repository.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "writer.h"

using tk::Dtype;
using Bytes = std::vector<uint8_t>;

// Floats rounded to bfloat16 precision compress well, as real weights do.
static Bytes floats(size_t count, float scale) {
  Bytes out(count * 4);
  for (size_t i = 0; i < count; i++) {
    float f = scale * std::sin(float(i) * 0.1f);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits &= 0xFFFF0000u;
    std::memcpy(out.data() + i * 4, &bits, 4);
  }
  return out;
}

static Bytes noise(size_t n) {
  Bytes out(n);
  uint32_t x = 2463534242u;
  for (auto& b : out) b = uint8_t((x ^= x << 13, x ^= x >> 17, x ^= x << 5));
  return out;
}

static tk::WriteResult write(const std::string& path, const std::vector<tk::TensorSource>& tensors, tk::Codec codec,
                             uint64_t chunk_bytes = tk::kDefaultChunkBytes) {
  tk::WriteOptions opt;
  opt.codec = codec;
  opt.chunk_bytes = chunk_bytes;
  opt.threads = 1;
  std::filesystem::remove(path);
  return tk::write_checkpoint(path, tensors,
                              R"({"created":"2025-01-01T00:00:00Z","writer":"0.1.0","model":"seed","seq":1,"step":100,)"
                              R"("epoch":2,"category":"best","reasons":["improved"],"metrics":{"loss":0.25},"meta":{}})",
                              opt);
}

// A file of one tensor `t` in one chunk at offset 64 holding `stored`,
// whose index says what the caller wants, with matching checksums.
static void lie(const std::string& path, const std::string& dtype, uint64_t raw_len, uint64_t stored_len,
                const std::string& codec, const Bytes& stored) {
  uint8_t header[tk::kHeaderSize], footer[tk::kFooterSize];
  tk::encode_header(header);
  std::string file(reinterpret_cast<char*>(header), tk::kHeaderSize);
  file.append(stored.begin(), stored.end());
  file.resize(tk::align_up(file.size()), '\0');
  const uint64_t index_at = file.size();
  std::string index = "{\"format_version\":1,\"tensors\":[{\"name\":\"t\",\"dtype\":\"" + dtype + "\",\"shape\":[" +
                      std::to_string(raw_len) + "],\"nbytes\":" + std::to_string(raw_len) + ",\"chunks\":[[64," +
                      std::to_string(stored_len) + "," + std::to_string(raw_len) + ",\"" + codec + "\",\"" +
                      tk::hash_hex(tk::xxh3_64(stored.data(), stored.size())) + "\"]]}]}";
  file += index;
  tk::encode_footer({index_at, index.size(), tk::xxh3_64(index.data(), index.size())}, footer);
  file.append(reinterpret_cast<char*>(footer), tk::kFooterSize);
  std::ofstream(path, std::ios::binary) << file;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  Bytes w = floats(256, 1.0f), big = floats(3000, 3.0f), rnd = noise(300), scalar = noise(8), flags = {1, 0, 1};
  Bytes ints(512);
  for (size_t i = 0; i < ints.size(); i++) ints[i] = uint8_t(i % 4 == 0 ? i / 4 : 0);  // small int32 values

  write(dir + "/raw.seed", {{"w", Dtype::F32, {16, 16}, w.data(), w.size()}, {"step", Dtype::I64, {}, scalar.data(), 8}},
        tk::Codec::Raw);
  write(dir + "/zstd.seed", {{"ids", Dtype::I32, {128}, ints.data(), ints.size()}, {"mask", Dtype::Bool, {3}, flags.data(), 3}},
        tk::Codec::Zstd);
  write(dir + "/shuffle_zstd.seed",
        {{"w", Dtype::F32, {16, 16}, w.data(), w.size()}, {"h", Dtype::BF16, {2, 64}, w.data(), 256},
         {"noise", Dtype::U8, {300}, rnd.data(), rnd.size()}},
        tk::Codec::ShuffleZstd);
  // 12000 bytes in 4096-byte chunks: three chunks, the last one short.
  tk::WriteResult multi = write(dir + "/multi_chunk.seed",
                                {{"big", Dtype::F32, {3000}, big.data(), big.size()}, {"d", Dtype::F64, {4}, big.data(), 32}},
                                tk::Codec::ShuffleZstd, 4096);
  write(dir + "/empty.seed", {{"e", Dtype::F32, {0}, nullptr, 0}, {"e2", Dtype::U16, {3, 0}, nullptr, 0},
                              {"one", Dtype::I8, {1}, flags.data(), 1}},
        tk::Codec::ShuffleZstd);
  write(dir + "/no_tensors.seed", {}, tk::Codec::ShuffleZstd);
  // Near the zstd expansion bound (raw_len <= stored_len * 32768): one byte
  // repeated compresses about 3000-fold; and a bool tensor in zstd chunks,
  // whose values verification checks.
  Bytes same(65536, 7), bools(8192);
  for (size_t i = 0; i < bools.size(); i++) bools[i] = uint8_t((i / 5) % 2);
  write(dir + "/high_ratio.seed", {{"same", Dtype::U8, {same.size()}, same.data(), same.size()},
                                   {"mask", Dtype::Bool, {64, 128}, bools.data(), bools.size()}},
        tk::Codec::Zstd, 16384);
  // Hand-made lies with matching checksums, for the fuzzer to mutate around
  // the checks: a zstd chunk of 64 stored bytes claiming 2097153 raw bytes,
  // one past the bound, and a bool tensor holding a 2.
  lie(dir + "/expansion_lie.seed", "uint8", 2097153, 64, "zstd", noise(64));
  lie(dir + "/bool_lie.seed", "bool", 4, 4, "raw", Bytes{0, 1, 2, 1});
  std::ofstream(dir + "/index.json", std::ios::binary) << multi.index_json;
  std::filesystem::remove(dir + "/.tmp");  // the writer's staging directory
  return 0;
}
