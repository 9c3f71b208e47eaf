// The sparse time index of a stream (docs/FORMAT.md, "Episode index"): per
// segment, blocks of consecutive records with their id and time bounds and
// the models they hold. A closed segment's index is saved beside it
// (`<seq>.tkidx`); the open segment's lives in memory, rebuilt at open.
import { callNative } from '../errors.js';
import { native } from '../native.js';
import type { ReplayQuery } from './types.js';

export const INDEX_VERSION = 1;
/** A block lists its models only while they are few; more means "any". */
const MAX_BLOCK_MODELS = 8;

export interface IndexBlock {
  offset: number;
  bytes: number;
  firstId: number;
  lastId: number;
  count: number;
  minTime: number;
  maxTime: number;
  /** The models of its records, or null when there are too many to list. */
  models: string[] | null;
}

export interface SegmentInfo {
  seq: number;
  path: string;
  /** Id the segment's first record has or will have (its header's). */
  firstId: number;
  /** File size. */
  bytes: number;
  createdMs: number;
  /** When it was closed; null for the open segment. */
  sealedMs: number | null;
  blocks: IndexBlock[];
}

/** One record as the index sees it. */
export interface IndexedRecord {
  offset: number;
  frameBytes: number;
  id: number;
  time: number;
  /** null when its head could not be read (then the block's models are unknown). */
  model: string | null;
}

export const segmentFile = (seq: number) => `${String(seq).padStart(8, '0')}.tkeps`;
export const indexFile = (seq: number) => `${String(seq).padStart(8, '0')}.tkidx`;
export const SEGMENT_FILE = /^(\d{8,})\.tkeps$/;
export const INDEX_FILE = /^(\d{8,})\.tkidx$/;

/** Adds a record to the segment's index: to the last block while contiguous and under `indexBytes`. */
export function indexRecord(segment: SegmentInfo, r: IndexedRecord, indexBytes: number): void {
  const last = segment.blocks.at(-1);
  if (last && last.offset + last.bytes === r.offset && last.bytes < indexBytes) {
    last.bytes += r.frameBytes;
    last.lastId = r.id;
    last.count++;
    last.minTime = Math.min(last.minTime, r.time);
    last.maxTime = Math.max(last.maxTime, r.time);
    if (last.models && (r.model === null || !last.models.includes(r.model)))
      last.models = r.model === null || last.models.length >= MAX_BLOCK_MODELS ? null : [...last.models, r.model];
  } else {
    segment.blocks.push({
      offset: r.offset, bytes: r.frameBytes, firstId: r.id, lastId: r.id, count: 1, minTime: r.time, maxTime: r.time,
      models: r.model === null ? null : [r.model],
    });
  }
  segment.bytes = Math.max(segment.bytes, r.offset + r.frameBytes);
}

export function segmentRecords(s: SegmentInfo): number {
  return s.blocks.reduce((n, b) => n + b.count, 0);
}

export function timeRange(s: SegmentInfo): { min: number; max: number } | null {
  if (s.blocks.length === 0) return null;
  return { min: Math.min(...s.blocks.map((b) => b.minTime)), max: Math.max(...s.blocks.map((b) => b.maxTime)) };
}

/** Whether a block may hold records the query wants. */
export function blockMatches(b: IndexBlock, q: ReplayQuery): boolean {
  if (q.from !== undefined && b.maxTime < q.from) return false;
  if (q.to !== undefined && b.minTime > q.to) return false;
  return q.model === undefined || b.models === null || b.models.includes(q.model);
}

/** The closed segment's index file: one frame (u32 len | u64 xxh3 | JSON), like a journal of one record. */
export function encodeIndex(s: SegmentInfo): Buffer {
  const json = Buffer.from(JSON.stringify({
    version: INDEX_VERSION, segment: s.seq, firstId: s.firstId, bytes: s.bytes, createdMs: s.createdMs, sealedMs: s.sealedMs,
    blocks: s.blocks.map((b) => [b.offset, b.bytes, b.firstId, b.lastId, b.count, b.minTime, b.maxTime, b.models]),
  }), 'utf8');
  const frame = Buffer.alloc(12 + json.length);
  frame.writeUInt32LE(json.length, 0);
  frame.writeBigUInt64LE(BigInt(`0x${native.xxh3(json)}`), 4);
  json.copy(frame, 12);
  return frame;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Reads a closed segment's index; null when it is missing, damaged, of
 * another version, or does not describe this segment of `bytes` bytes (then
 * recovery rebuilds it from the segment, which describes itself).
 */
export function readIndex(path: string, seq: number, segmentPath: string, bytes: number): SegmentInfo | null {
  const scan = callNative(() => native.journalScan(path));
  if (scan.problem !== null || scan.records.length !== 1) return null;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(scan.records[0].toString('utf8'));
  } catch {
    return null;
  }
  if (raw?.version !== INDEX_VERSION || raw.segment !== seq || raw.bytes !== bytes || !isCount(raw.firstId) || !isTime(raw.createdMs)
    || !isTime(raw.sealedMs) || !Array.isArray(raw.blocks)) return null;
  const blocks: IndexBlock[] = [];
  let end = 0;
  for (const b of raw.blocks as unknown[]) {
    if (!Array.isArray(b) || b.length !== 8) return null;
    const [offset, size, firstId, lastId, count, minTime, maxTime, models] = b;
    if (![offset, size, firstId, lastId, count].every(isCount) || !isTime(minTime) || !isTime(maxTime)) return null;
    if (offset < end || offset + size > bytes || lastId < firstId || count < 1 || minTime > maxTime) return null;
    if (models !== null && !(Array.isArray(models) && models.every((m) => typeof m === 'string'))) return null;
    end = offset + size;
    blocks.push({ offset, bytes: size, firstId, lastId, count, minTime, maxTime, models });
  }
  return { seq, path: segmentPath, firstId: raw.firstId, bytes, createdMs: raw.createdMs, sealedMs: raw.sealedMs, blocks };
}
