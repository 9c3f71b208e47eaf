// Every limit an option or argument is checked against, defined once.
// Those the addon checks too (writer and reader) are the same numbers as
// native/core/format.h and native/core/episode_format.h.
const MiB = 1024 * 1024;

export const LIMITS = {
  /** zstd levels the writers accept. */
  level: { min: 1, max: 19, default: 1 },
  /** Bytes per checkpoint chunk: a multiple of `alignment`. */
  chunkBytes: { min: 4096, max: 256 * MiB, default: 4 * MiB },
  alignment: 64,
  /** Threads of one native call, and worker threads of a store. */
  threads: { min: 1, max: 64 },
  tensorNameBytes: 1024,
  dims: 32,
  /** JSON nesting of meta, context and actions. */
  jsonDepth: 64,
  /** One episode record, raw: the native side's stored-payload limit. */
  episodeRecordBytes: 256 * MiB,
  /** Columns, index and features of one episode record. */
  episodeBlocks: 65_536,
  episodeIdChars: 256,
  columnNameBytes: 1024,
} as const;
