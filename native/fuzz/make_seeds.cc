// Writes the seed corpus of reader_fuzz: small valid checkpoints covering
// each codec, multi-chunk tensors, 0-d and empty tensors, plus one bare index
// JSON for the parser. Usage: make_seeds <dir> (native/fuzz/corpus). Seeds
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
  std::ofstream(dir + "/index.json", std::ios::binary) << multi.index_json;
  std::filesystem::remove(dir + "/.tmp");  // the writer's staging directory
  return 0;
}
