// Every limit an option or argument is checked against, defined once. Those
// the addon's reader enforces come from it (native.limits, defined in
// native/core/format_limits.h): what report() accepts, the writer writes and
// the reader reads back.
import { native } from '../native.js';

const n = native.limits;

export const LIMITS = {
  /** zstd levels the writers accept. */
  level: { min: n.minLevel, max: n.maxLevel, default: 1 },
  /** Bytes per checkpoint chunk: a multiple of `alignment`. */
  chunkBytes: { min: n.minChunkBytes, max: n.maxChunkBytes, default: n.defaultChunkBytes },
  alignment: n.chunkAlignment,
  /** The index JSON of a checkpoint: names, shapes, chunk table, metrics, meta. */
  indexBytes: n.maxIndexBytes,
  tensorNameBytes: n.maxNameBytes,
  dims: n.maxDims,
  tensorBytes: n.maxTensorBytes,
  /** JSON nesting of a file's index or a record's head; meta, context and actions sit one level inside. */
  jsonDepth: n.maxJsonDepth,
  /** One episode record, raw: the native side's stored-payload limit. */
  episodeRecordBytes: n.maxEpisodePayloadBytes,
  /** Columns, index and features of one episode record. */
  episodeBlocks: n.maxEpisodeBlocks,
  /** Threads of one native call, and worker threads of a store. */
  threads: { min: 1, max: 64 },
  episodeIdChars: 256,
  columnNameBytes: 1024,
  /** One catalog journal or history record. */
  journalRecordBytes: n.maxJournalRecordBytes,
} as const;
