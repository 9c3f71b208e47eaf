// core/codec: byte shuffle layout and round trips, chunk encode/decode for
// every codec, the raw fallback, corrupt zstd input, checksum checks and the
// hash hex helpers.
#include <cstdint>
#include <string>
#include <vector>

#include "codec.h"
#include "test_util.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

using tk::Codec;
using tk::ErrorCode;
using Bytes = std::vector<uint8_t>;

static void test_shuffle() {
  for (size_t elem : {1, 2, 3, 4, 8}) {
    for (size_t len : {0, 1, 7, 64, 1001, 4099}) {
      // One spare byte keeps data() non-null for len 0 (see test_shuffle_empty_null).
      Bytes src = tkt::random_bytes(len + 1, len * 31 + elem), shuffled(len + 1), back(len + 1);
      src[len] = shuffled[len] = back[len] = 0;
      tk::shuffle_bytes(src.data(), shuffled.data(), len, elem);
      tk::unshuffle_bytes(shuffled.data(), back.data(), len, elem);
      CHECK(back == src);
      // The documented layout: byte planes, then the len % elem tail as is.
      size_t count = len / elem;
      bool layout_ok = true;
      for (size_t i = 0; i < count; i++)
        for (size_t plane = 0; plane < elem; plane++)
          layout_ok &= shuffled[plane * count + i] == src[i * elem + plane];
      for (size_t i = count * elem; i < len; i++) layout_ok &= shuffled[i] == src[i];
      CHECK(layout_ok);
    }
  }
  // A concrete case: two 4-byte elements and a 3-byte tail.
  Bytes src = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, dst(11);
  tk::shuffle_bytes(src.data(), dst.data(), 11, 4);
  CHECK((dst == Bytes{1, 5, 2, 6, 3, 7, 4, 8, 9, 10, 11}));
}

// Encodes and decodes one chunk; returns the codec the encoder chose.
static Codec round_trip(const Bytes& raw, size_t elem, Codec want) {
  tk::ChunkEncoder enc(1);
  tk::ChunkEncoder::Result r = enc.encode(raw.data(), raw.size(), elem, want);
  CHECK(r.hash == tk::xxh3_64(raw.data(), raw.size()));
  if (r.codec != Codec::Raw) CHECK(r.len < raw.size());  // compressed is always strictly smaller
  Bytes out(raw.size(), 0xAA);
  tk::ChunkDecoder().decode(r.codec, r.data, r.len, out.data(), out.size(), elem, r.hash, true, "chunk");
  CHECK(out == raw);
  return r.codec;
}

static void test_chunk_round_trip() {
  Bytes smooth = tkt::compressible_bytes(100000);
  CHECK(round_trip(smooth, 4, Codec::Raw) == Codec::Raw);
  CHECK(round_trip(smooth, 4, Codec::Zstd) == Codec::Zstd);
  CHECK(round_trip(smooth, 4, Codec::ShuffleZstd) == Codec::ShuffleZstd);
  CHECK(round_trip(smooth, 2, Codec::ShuffleZstd) == Codec::ShuffleZstd);
  CHECK(round_trip(tkt::compressible_bytes(4099), 8, Codec::ShuffleZstd) == Codec::ShuffleZstd);  // tail bytes
  // Shuffling single bytes is a no-op, so the encoder says zstd.
  CHECK(round_trip(smooth, 1, Codec::ShuffleZstd) == Codec::Zstd);
  CHECK(round_trip(Bytes(), 4, Codec::ShuffleZstd) == Codec::Raw);

  // Incompressible data is stored raw, pointing at the input itself.
  Bytes noise = tkt::random_bytes(65536, 7);
  for (Codec want : {Codec::Zstd, Codec::ShuffleZstd}) {
    tk::ChunkEncoder enc(3);
    tk::ChunkEncoder::Result r = enc.encode(noise.data(), noise.size(), 4, want);
    CHECK(r.codec == Codec::Raw && r.data == noise.data() && r.len == noise.size());
  }
  CHECK(round_trip(Bytes(1, 42), 1, Codec::Zstd) == Codec::Raw);  // 1 byte never compresses

  // One encoder reused for chunks of different sizes and codecs.
  tk::ChunkEncoder enc(1);
  tk::ChunkDecoder dec;
  for (size_t len : {100000, 5000, 300000, 64}) {
    Bytes raw = tkt::compressible_bytes(len);
    auto r = enc.encode(raw.data(), len, 4, len % 2 ? Codec::Zstd : Codec::ShuffleZstd);
    Bytes out(len);
    dec.decode(r.codec, r.data, r.len, out.data(), len, 4, r.hash, true, "reuse");
    CHECK(out == raw);
  }
}

static void test_corrupt_input() {
  Bytes raw = tkt::compressible_bytes(50000);
  tk::ChunkEncoder enc(1);
  auto r = enc.encode(raw.data(), raw.size(), 4, Codec::ShuffleZstd);
  CHECK(r.codec == Codec::ShuffleZstd);
  Bytes stored(r.data, r.data + r.len), out(raw.size());
  tk::ChunkDecoder dec;
  auto decode = [&](const Bytes& s, size_t raw_len, uint64_t hash, bool verify) {
    out.assign(raw_len, 0);
    dec.decode(Codec::ShuffleZstd, s.data(), s.size(), out.data(), raw_len, 4, hash, verify, "chunk 3 of \"w\"");
  };

  Bytes garbage = tkt::random_bytes(200, 1);
  std::string m = CHECK_THROWS_CODE(decode(garbage, raw.size(), r.hash, true), ErrorCode::Corrupt, "zstd data does not decode");
  CHECK(tkt::contains(m, "chunk 3 of \"w\""));
  Bytes truncated(stored.begin(), stored.begin() + long(stored.size() / 2));
  CHECK_THROWS_CODE(decode(truncated, raw.size(), r.hash, true), ErrorCode::Corrupt, "zstd data");
  CHECK_THROWS_CODE(decode(stored, raw.size() + 8, r.hash, false), ErrorCode::Corrupt,
                    "decodes to 50000 bytes, index says 50008");
  CHECK_THROWS_CODE(decode(stored, raw.size() - 8, r.hash, false), ErrorCode::Corrupt, "does not decode");
  // Flipped bits inside the frame: either zstd notices or the checksum does.
  for (size_t at : {size_t(10), stored.size() / 2, stored.size() - 5}) {
    Bytes flipped = stored;
    flipped[at] ^= 0x10;
    CHECK_THROWS_CODE(decode(flipped, raw.size(), r.hash, true), ErrorCode::Corrupt, "chunk 3 of \"w\"");
  }

  // Checksum mismatch on good data: caught only when verifying.
  m = CHECK_THROWS_CODE(decode(stored, raw.size(), r.hash ^ 1, true), ErrorCode::Corrupt, "checksum mismatch");
  CHECK(tkt::contains(m, tk::hash_hex(r.hash ^ 1)) && tkt::contains(m, tk::hash_hex(r.hash)));
  decode(stored, raw.size(), r.hash ^ 1, false);
  CHECK(out == raw);
  CHECK_THROWS_CODE(tk::check_hash(raw.data(), raw.size(), r.hash + 1, "t"), ErrorCode::Corrupt, "t: checksum mismatch");
  tk::check_hash(raw.data(), raw.size(), r.hash, "t");

  // Raw chunks: lengths must agree; a raw decode also verifies.
  CHECK_THROWS_CODE(dec.decode(Codec::Raw, raw.data(), 10, out.data(), 11, 4, 0, false, "r"), ErrorCode::Corrupt,
                    "raw chunk stores 10 bytes for 11 raw bytes");
  CHECK_THROWS_CODE(dec.decode(Codec::Raw, raw.data(), 16, out.data(), 16, 4, 0, true, "r"), ErrorCode::Corrupt,
                    "checksum mismatch");
}

// Known answers published by the reference implementation: xxHash's sanity
// test (github.com/Cyan4973/xxHash, cli/xsum_sanity_check.c, XSUM_XXH3_testdata,
// at b2e9dbb05fb7f45ad662e67969e92c48b9b32247), the hash of the first `len`
// bytes of its generated buffer for seed 0 and seed PRIME64. Copied, not
// computed: test/fixtures/xxh3-vectors.ts holds the same table.
static constexpr uint64_t kPrime32 = 2654435761ull;
static constexpr uint64_t kPrime64 = 11400714785074694797ull;
struct Xxh3Vector {
  size_t len;
  uint64_t seed;
  uint64_t hash;
};
static const Xxh3Vector kXxh3Vectors[] = {
    {0, 0, 0x2D06800538D394C2ull},        {0, kPrime64, 0xA8A6B918B2F0364Aull},    {1, 0, 0xC44BDFF4074EECDBull},
    {1, kPrime64, 0x032BE332DD766EF8ull}, {6, 0, 0x27B56A84CD2D7325ull},           {6, kPrime64, 0x84589C116AB59AB9ull},
    {12, 0, 0xA713DAF0DFBB77E7ull},       {12, kPrime64, 0xE7303E1B2336DE0Eull},   {24, 0, 0xA3FE70BF9D3510EBull},
    {24, kPrime64, 0x850E80FC35BDD690ull}, {48, 0, 0x397DA259ECBA1F11ull},         {48, kPrime64, 0xADC2CBAA44ACC616ull},
    {80, 0, 0xBCDEFBBB2C47C90Aull},       {80, kPrime64, 0xC6DD0CB699532E73ull},   {195, 0, 0xCD94217EE362EC3Aull},
    {195, kPrime64, 0xBA68003D370CB3D9ull}, {403, 0, 0xCDEB804D65C6DEA4ull},       {403, kPrime64, 0x6259F6ECFD6443FDull},
    {512, 0, 0x617E49599013CB6Bull},      {512, kPrime64, 0x3CE457DE14C27708ull},  {2048, 0, 0xDD59E2C3A5F038E0ull},
    {2048, kPrime64, 0x66F81670669ABABCull}, {2099, 0, 0xC6B9D9B3FC9AC765ull},     {2099, kPrime64, 0x184F316843663974ull},
    {2240, 0, 0x6E73A90539CF2948ull},     {2240, kPrime64, 0x757BA8487D1B5247ull}, {2367, 0, 0xCB37AEB9E5D361EDull},
    {2367, kPrime64, 0xD2DB3415B942B42Aull},
};

// XSUM_fillTestBuffer: byte i is the top byte of PRIME32 * PRIME64^i (mod 2^64).
static std::vector<uint8_t> xxh_test_buffer(size_t len) {
  std::vector<uint8_t> out(len);
  uint64_t gen = kPrime32;
  for (size_t i = 0; i < len; i++) {
    out[i] = uint8_t(gen >> 56);
    gen *= kPrime64;
  }
  return out;
}

static void test_xxh3_reference_vectors() {
  const std::vector<uint8_t> buffer = xxh_test_buffer(2367);
  for (const Xxh3Vector& v : kXxh3Vectors) {
    const void* data = v.len == 0 ? nullptr : buffer.data();
    // The vendored xxhash.h, seeds included; and the engine's own hash (seed 0, the format's).
    if (XXH3_64bits_withSeed(data, v.len, v.seed) != v.hash)
      tkt::fail(__FILE__, __LINE__, "XXH3_64bits_withSeed(len " + std::to_string(v.len) + ", seed " + std::to_string(v.seed) + ") differs from the reference");
    else
      ++tkt::g_passed;
    if (v.seed == 0) {
      if (tk::xxh3_64(data, v.len) != v.hash)
        tkt::fail(__FILE__, __LINE__, "tk::xxh3_64(len " + std::to_string(v.len) + ") differs from the reference: " + tk::hash_hex(tk::xxh3_64(data, v.len)));
      else
        ++tkt::g_passed;
    }
  }
}

static void test_hash_hex() {
  CHECK(tk::hash_hex(0) == "0000000000000000");
  CHECK(tk::hash_hex(0x0123456789abcdefull) == "0123456789abcdef");
  CHECK(tk::hash_hex(UINT64_MAX) == "ffffffffffffffff");
  uint64_t v = 0;
  for (uint64_t h : {0ull, 1ull, 0xdeadbeefcafef00dull, ~0ull}) CHECK(tk::parse_hash_hex(tk::hash_hex(h), &v) && v == h);
  v = 77;
  for (const char* bad : {"", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg",
                          "0x23456789abcdef", " 123456789abcdef", "-123456789abcdef"})
    CHECK(!tk::parse_hash_hex(bad, &v) && v == 77);

  Codec c;
  for (Codec want : {Codec::Raw, Codec::Zstd, Codec::ShuffleZstd})
    CHECK(tk::codec_from_name(tk::codec_name(want), &c) && c == want);
  CHECK(std::string(tk::codec_name(Codec::ShuffleZstd)) == "shuffle+zstd");
  CHECK(!tk::codec_from_name("lz4", &c) && !tk::codec_from_name("ZSTD", &c) && !tk::codec_from_name("", &c));
}

// An empty std::vector hands out a null data(): shuffling zero bytes must not
// pass it on to memcpy, where null is undefined behaviour even for length 0
// (UBSan aborts here while codec.cc copies the len % elem tail unguarded).
static void test_shuffle_empty_null() {
  for (size_t elem : {3, 4}) {
    Bytes empty;
    tk::shuffle_bytes(empty.data(), empty.data(), 0, elem);
    tk::unshuffle_bytes(empty.data(), empty.data(), 0, elem);
    ++tkt::g_passed;  // reaching this line without a UBSan report is the check
  }
}

int main() {
  return tkt::run("codec_test",
                  {test_shuffle, test_chunk_round_trip, test_corrupt_input, test_hash_hex, test_xxh3_reference_vectors,
                   test_shuffle_empty_null});
}
