// Public types of the episode log (docs/EPISODES.md).
import type { Codec } from '../file/types.js';
import type { Tensor, TensorDict, TypedArray } from '../file/tensors.js';
import type { JsonValue } from '../validate/json.js';

/** A frame column: numbers (a TypedArray, or 1-D `{dtype, shape, data}` for float16, bfloat16 and bool) or strings. */
export type Column = TypedArray | Tensor | string[];

/** Columns of equal length; `index`, when given, has that length too. */
export interface DataFrame {
  columns: Record<string, Column>;
  index?: TypedArray | Tensor;
}

/** One step of a training episode, as the trainer saw it. */
export interface EpisodeRecord {
  /** When it happened (any finite number; ms since the epoch is the convention). Replay is in time order. */
  time: number;
  /** The model that took the decision (a model name: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`). */
  model: string;
  episode?: number | string;
  step?: number;
  action?: JsonValue;
  /** Any number, NaN, ±Infinity and -0 included. */
  reward?: number;
  /** Market conditions, settings, anything JSON. */
  context?: JsonValue;
  frame?: DataFrame;
  features?: TensorDict;
}

/** A record read back: the same fields, bytes and dtypes, plus its id. */
export interface StoredEpisode extends EpisodeRecord {
  /** Increasing in append order within the stream; not necessarily contiguous (a failed commit burns its ids). */
  id: number;
}

export interface AppendResult {
  id: number;
  /** Resolves once the fsync covering the record has returned; rejects when its commit failed. */
  durable: Promise<void>;
}

/** Which records to replay. `from` and `to` are inclusive; every field is optional. */
export interface ReplayQuery {
  from?: number;
  to?: number;
  model?: string;
  episode?: number | string;
}

/** A checkpoint's reference to the episodes it was trained on (stored as `meta.episodes`). */
export interface EpisodeRef extends ReplayQuery {
  stream: string;
}

export interface EpisodeRetention {
  /** Drop the oldest closed segments while the stream holds more than this. */
  maxBytes?: number;
  /** Drop closed segments whose last write is older than this. */
  maxAgeDays?: number;
}

export interface EpisodeLogOptions {
  /** Longest wait between an append and the fsync that acknowledges it (default 100). */
  commitMs?: number;
  /** A segment is closed and a new one started once it holds this many bytes (default 64 MiB). */
  segmentBytes?: number;
  /** Granularity of the sparse time index: one entry per this many bytes of records (default 64 KiB). */
  indexBytes?: number;
  /** Commit at once, without waiting for commitMs, once this many raw bytes wait (default 4 MiB). */
  batchBytes?: number;
  /** Codec of the numeric blocks (default shuffle+zstd level 1; a block that does not shrink is stored raw). */
  compression?: { codec?: Codec; level?: number };
  keep?: EpisodeRetention;
}

/** A stretch of a segment that held no readable record: skipped, its neighbours kept. */
export interface EpisodeDamage {
  stream: string;
  segment: number;
  offset: number;
  bytes: number;
  problem: string;
}

export interface EpisodeStats {
  stream: string;
  segments: number;
  records: number;
  bytesOnDisk: number;
  firstId: number | null;
  lastId: number | null;
  minTime: number | null;
  maxTime: number | null;
  /** Since open: appends accepted, acknowledged (fsynced), failed, and still waiting. */
  appended: number;
  acknowledged: number;
  failed: number;
  pending: number;
  /** Raw bytes of the records appended since open. */
  appendedBytes: number;
  commits: number;
  /** Damaged stretches skipped since open (at open or while reading). */
  damaged: number;
  /** Segments (and their bytes) dropped by retention since open. */
  dropped: { segments: number; bytes: number };
  /** What replay() and get() read since open: segments opened, index blocks, bytes, records decoded. */
  reads: { segments: number; blocks: number; bytes: number; records: number };
}
