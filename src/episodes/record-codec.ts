// Records in their raw form (docs/FORMAT.md, "Record"): what append copies
// into the pending batch and what a range read hands back, decoded. Layout,
// 8-aligned: u64 id | f64 time | u32 head_len | u32 block_count | u8 codec 0
// | 3 × u8 0 | u32 data_len (the blocks' raw bytes) | block table (u8
// element size | 3 × u8 0 | u32 raw_len) | the JSON head | each block at the
// next 8-byte boundary. The addon encodes these into stored frames and
// decodes frames back into this form, so a decoded column is a view, never
// a copy.
import { CheckpointError } from '../errors.js';
import { native } from '../native.js';
import { DTYPES, isDtype, type Dtype, type Tensor, type TensorDict, type TypedArray } from '../tensors.js';
import type { BlockSource, ColumnHead, FeatureHead, NormalizedRecord, RecordHead } from './validate.js';
import type { Column, DataFrame, StoredEpisode } from './types.js';

const HEADER = 32;
const ENTRY = 8;
/** Largest raw record the native side accepts (its stored-payload limit). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const align8 = (n: number) => (n + 7) & ~7;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes the raw form of a record with this head and these blocks takes. */
export function rawSize(headBytes: number, blocks: readonly BlockSource[]): number {
  let at = HEADER + blocks.length * ENTRY + headBytes;
  for (const b of blocks) at = align8(at) + b.data.byteLength;
  return align8(at);
}

/** The pending records of one commit, back to back in one buffer. */
export class Batch {
  count = 0;
  used = 0;
  private buffer: Buffer;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafeSlow(Math.max(capacity, 4096));
  }

  /** Copies the record in; its arrays may change as soon as this returns. */
  add(id: number, record: NormalizedRecord, headBytes: number, size: number): void {
    this.reserve(size);
    const buf = this.buffer;
    const start = this.used;
    buf.fill(0, start, start + size); // padding and reserved bytes are zero
    buf.writeUInt32LE(id % 0x1_0000_0000, start);
    buf.writeUInt32LE(Math.floor(id / 0x1_0000_0000), start + 4);
    buf.writeDoubleLE(record.time, start + 8);
    buf.writeUInt32LE(headBytes, start + 16);
    buf.writeUInt32LE(record.blocks.length, start + 20);
    let at = start + HEADER + record.blocks.length * ENTRY;
    buf.write(record.head, at, headBytes, 'utf8');
    at += headBytes;
    let dataLen = 0;
    const sources: ArrayBufferView[] = [];
    const offsets: number[] = [];
    record.blocks.forEach((b, i) => {
      const entry = start + HEADER + i * ENTRY;
      buf[entry] = b.elem;
      buf.writeUInt32LE(b.data.byteLength, entry + 4);
      at = start + align8(at - start);
      if (b.data.byteLength > 0) {
        sources.push(b.data);
        offsets.push(at);
      }
      at += b.data.byteLength;
      dataLen += b.data.byteLength;
    });
    buf.writeUInt32LE(dataLen, start + 28);
    // One native call copies every block: no view per column on this thread.
    native.snapshot(sources, buf, offsets, 1);
    this.used = start + size;
    this.count++;
  }

  /** The bytes to commit. */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }

  get capacity(): number {
    return this.buffer.length;
  }

  /** Empties the batch; a buffer grown past 4 × `keepBytes` (one huge record) is given back. */
  reset(keepBytes: number): void {
    this.count = 0;
    this.used = 0;
    if (this.buffer.length > 4 * keepBytes) this.buffer = Buffer.allocUnsafeSlow(keepBytes);
  }

  private reserve(size: number): void {
    if (this.used + size <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.used + size, this.buffer.length * 2));
    this.buffer.copy(bigger, 0, 0, this.used);
    this.buffer = bigger;
  }
}

/** A decoded record whose head says something its blocks contradict: damage, reported like a failed checksum. */
function corrupt(message: string): CheckpointError {
  return new CheckpointError('E_CORRUPT', message);
}

function checkDtype(value: unknown, what: string): Dtype {
  if (!isDtype(value)) throw new CheckpointError('E_VERSION', `${what} has unknown dtype ${JSON.stringify(value)} (written by a newer tensorkeep?)`);
  return value;
}

const REWARD_NAMES: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

/** Decodes the raw-form record at `start` of `buffer`; its arrays are views of the buffer. */
export function decodeRecord(buffer: ArrayBuffer, start: number): StoredEpisode {
  const view = new DataView(buffer, start);
  const id = view.getUint32(0, true) + view.getUint32(4, true) * 0x1_0000_0000;
  if (!Number.isSafeInteger(id)) throw corrupt(`record id ${id} is not a safe integer`);
  const time = view.getFloat64(8, true);
  const headLen = view.getUint32(16, true);
  const count = view.getUint32(20, true);
  let at = HEADER + count * ENTRY;
  const headBytes = new Uint8Array(buffer, start + at, headLen);
  at += headLen;
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(HEADER + i * ENTRY + 4, true);
    at = align8(at);
    blocks.push(new Uint8Array(buffer, start + at, len));
    at += len;
  }
  let head: RecordHead;
  try {
    head = JSON.parse(utf8.decode(headBytes));
  } catch (err) {
    throw corrupt(`record ${id}: head is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (head === null || typeof head !== 'object' || typeof head.model !== 'string') throw corrupt(`record ${id}: head has no model`);
  const out: StoredEpisode = { id, time, model: head.model };
  if (head.episode !== undefined) out.episode = head.episode;
  if (head.step !== undefined) out.step = head.step;
  if (head.action !== undefined) out.action = head.action as StoredEpisode['action'];
  if (head.reward !== undefined) out.reward = typeof head.reward === 'string' ? REWARD_NAMES[head.reward] : head.reward;
  if (head.context !== undefined) out.context = head.context as StoredEpisode['context'];
  let next = 0;
  const take = (what: string) => {
    if (next >= blocks.length) throw corrupt(`record ${id}: the head names more blocks (${what}) than the record holds (${blocks.length})`);
    return blocks[next++];
  };
  if (head.frame !== undefined) out.frame = decodeFrame(id, head.frame, take);
  if (head.features !== undefined) out.features = decodeFeatures(id, head.features, take);
  if (next !== blocks.length) throw corrupt(`record ${id} holds ${blocks.length} blocks, its head names ${next}`);
  return out;
}

function numeric(id: number, what: string, kind: unknown, dtypeName: unknown, shape: number[] | null, bytes: Uint8Array): TypedArray | Tensor {
  const dtype = checkDtype(dtypeName, `record ${id}: ${what}`);
  const size = DTYPES[dtype].size;
  if (bytes.byteLength % size !== 0) throw corrupt(`record ${id}: ${what} holds ${bytes.byteLength} bytes, not a whole number of ${dtype}`);
  const data = new DTYPES[dtype].array(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  const dims = shape ?? [data.length];
  if (dims.reduce((a, b) => a * b, 1) !== data.length) throw corrupt(`record ${id}: ${what} has shape [${dims.join(', ')}] but ${data.length} elements`);
  if (kind === 'a') return data;
  if (kind === 't') return { dtype, shape: dims, data };
  throw corrupt(`record ${id}: ${what} has unknown kind ${JSON.stringify(kind)}`);
}

function parseStrings(id: number, what: string, bytes: Uint8Array): string[] {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw corrupt(`record ${id}: ${what} is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) throw corrupt(`record ${id}: ${what} is not a string array`);
  return value;
}

function decodeFrame(id: number, frame: NonNullable<RecordHead['frame']>, take: (what: string) => Uint8Array): DataFrame {
  if (typeof frame !== 'object' || frame === null || !Array.isArray(frame.columns) || !Number.isSafeInteger(frame.rows))
    throw corrupt(`record ${id}: frame head is malformed`);
  const columns: Record<string, Column> = {};
  for (const col of frame.columns as ColumnHead[]) {
    if (!Array.isArray(col) || typeof col[0] !== 'string') throw corrupt(`record ${id}: frame column head is malformed`);
    const what = `frame column "${col[0]}"`;
    const bytes = take(what);
    let value: Column;
    if (col[1] === 's') {
      value = parseStrings(id, what, bytes);
    } else value = numeric(id, what, col[1], col[2], null, bytes) as Column;
    const rows = Array.isArray(value) ? value.length : ArrayBuffer.isView(value) ? value.length : value.shape[0];
    if (rows !== frame.rows) throw corrupt(`record ${id}: ${what} has ${rows} rows, the frame ${frame.rows}`);
    columns[col[0]] = value;
  }
  const out: DataFrame = { columns };
  if (frame.index !== undefined) {
    if (!Array.isArray(frame.index)) throw corrupt(`record ${id}: frame index head is malformed`);
    out.index = numeric(id, 'frame index', frame.index[0], frame.index[1], [frame.rows], take('frame index'));
  }
  return out;
}

function decodeFeatures(id: number, features: FeatureHead[], take: (what: string) => Uint8Array): TensorDict {
  if (!Array.isArray(features)) throw corrupt(`record ${id}: features head is malformed`);
  const out: TensorDict = {};
  for (const f of features) {
    if (!Array.isArray(f) || typeof f[0] !== 'string' || !Array.isArray(f[3]) || !f[3].every((d) => Number.isSafeInteger(d) && d >= 0))
      throw corrupt(`record ${id}: feature head is malformed`);
    const what = `feature "${f[0]}"`;
    out[f[0]] = numeric(id, what, f[1], f[2], f[3], take(what));
  }
  return out;
}
