// Every limit a reader enforces on a file, defined once: the writer refuses
// (E_BAD_INPUT, before it creates a file) whatever the reader would refuse
// (E_CORRUPT), so a save that resolves durable always loads. The addon
// exports these numbers as `native.limits` (native/addon/addon.cc) for the
// TypeScript checks. docs/FORMAT.md states them for readers of the format.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tk {

// ---- checkpoint files (.tkpt) ----
constexpr uint64_t kAlignment = 64;               // chunks start on this boundary
constexpr uint64_t kMaxIndexBytes = 64ull << 20;  // bounds the allocation a hostile footer can ask for
constexpr uint64_t kMinChunkBytes = 4096;         // chunkBytes: a multiple of kAlignment in [min, max]
constexpr uint64_t kMaxChunkBytes = 256ull << 20;  // also the largest raw_len of a chunk in a file
constexpr uint64_t kDefaultChunkBytes = 4ull << 20;
constexpr size_t kMaxNameBytes = 1024;             // UTF-8 bytes of a tensor name
constexpr size_t kMaxDims = 32;
constexpr uint64_t kMaxTensorBytes = 1ull << 53;   // exact in a JS number
constexpr int kMinLevel = 1;                       // zstd compression level
constexpr int kMaxLevel = 19;
constexpr int kMaxJsonDepth = 64;                  // nesting of the index JSON (and so of meta)

// The most raw bytes a zstd frame of n stored bytes can decode to is below
// n * kMaxZstdExpansion. A zstd block decodes to at most 128 KiB
// (Block_Maximum_Size, RFC 8878 §3.1.1.2.3), and the smallest block for a
// given output is an RLE block: a 3-byte block header and 1 byte, so 4
// stored bytes per 128 KiB: a ratio of 32768. Raw, compressed and
// repeat-table blocks need more bytes for the same output, and the frame
// header (at least 6 bytes), skippable frames and the optional checksum add
// bytes without output. So raw_len < stored_len * 32768 for every chunk a
// zstd encoder can have written; a larger claim is a lie told to make the
// reader allocate.
constexpr uint64_t kMaxZstdExpansion = 32768;

// ---- journal and history framing ----
constexpr size_t kJournalMaxPayload = size_t(16) << 20;

// ---- episode segments (.tkeps) ----
constexpr size_t kEpisodeMaxPayloadBytes = size_t(256) << 20;
constexpr uint32_t kEpisodeMaxBlocks = 1u << 16;

}  // namespace tk
