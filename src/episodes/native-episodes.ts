// The episode bindings of the addon (native/addon/episode_bindings.cc), typed.
// src/native.ts loads the addon; this only describes the functions it adds.
import { native } from '../native.js';

export interface SegmentHeader {
  seq: number;
  firstId: number;
  createdMs: number;
}

export interface NativeDamage {
  offset: number;
  bytes: number;
  problem: string;
}

/** Frames encoded ahead of their commit (episodeEncode): opaque, handed back to commit(). */
export interface NativeEncodedBatch {
  readonly __encodedBatch?: never;
}

export interface NativeEpisodeWriter {
  /**
   * Appends the frames of `ahead`, then encodes and appends the raw-form
   * records of the chunks (counts[i] in chunks[i]), then fsyncs once;
   * [offset, frameBytes] per record, in that order.
   */
  commit(ahead: NativeEncodedBatch[], chunks: Uint8Array[], counts: number[], codec: string): Promise<Float64Array>;
  /** Writes the open segment's index atomically, then continues in a new segment. */
  roll(indexPath: string, index: Uint8Array, segmentPath: string, header: SegmentHeader): Promise<void>;
  size(): number;
  /** A failed commit could not be cut back: commit only after a roll. */
  broken(): boolean;
  /** Idempotent. */
  close(): void;
}

export interface NativeSegmentScan {
  headerOk: boolean;
  header: SegmentHeader;
  headerProblem: string | null;
  offsets: Float64Array;
  frameBytes: Float64Array;
  ids: Float64Array;
  times: Float64Array;
  /** Each record's JSON head. */
  heads: string[];
  damages: NativeDamage[];
  goodEnd: number;
  fileBytes: number;
  /** What is wrong after goodEnd, or null. */
  tail: string | null;
}

export interface NativeRangeRead {
  /** Raw-form records, decoded. */
  buffer: ArrayBuffer;
  starts: Float64Array;
  /** Per record: equal numbers for consecutive records with byte-identical schemas. */
  schemas: Uint32Array;
  damages: NativeDamage[];
}

interface EpisodeAddon {
  episodeWriterOpen(path: string, validBytes: number, level: number): NativeEpisodeWriter;
  /** Encodes raw-form records into frames without touching a file; the chunks must not change until it settles. */
  episodeEncode(chunks: Uint8Array[], counts: number[], codec: string, level: number): Promise<NativeEncodedBatch>;
  episodeCreateSegment(path: string, header: SegmentHeader): void;
  episodeScanSegment(path: string): NativeSegmentScan;
  episodeReadRange(path: string, offset: number, length: number, async: true): Promise<NativeRangeRead>;
  episodeReadRange(path: string, offset: number, length: number, async: false): NativeRangeRead;
}

export const episodeNative = native as unknown as EpisodeAddon;
