// The pending records of a commit in their raw form (record-codec.ts has
// the layout): append copies each record into a chunk buffer, the addon
// encodes the chunks into stored frames.
import type { BlockSource, NormalizedRecord } from '../validate/episode-record.js';
import { align8, ENTRY, HEADER } from './record-codec.js';

/** Bytes the raw form of a record with this head, schema and these blocks takes. */
export function rawSize(textBytes: number, blocks: readonly BlockSource[]): number {
  let at = HEADER + blocks.length * ENTRY + textBytes;
  for (const b of blocks) at = align8(at) + b.data.byteLength;
  return align8(at);
}

/** Typed arrays whose bytes a view of the same type copies with TypedArray.set (bit for bit, NaN payloads included). */
const SAME_TYPE_COPY = [Float64Array, Float32Array, Int32Array, Uint32Array, Int16Array, Uint16Array, BigInt64Array, BigUint64Array];
type CopyView = InstanceType<(typeof SAME_TYPE_COPY)[number]>;

/** Pending records, back to back in one buffer: one chunk of a commit. */
export class Batch {
  count = 0;
  used = 0;
  private buffer!: Buffer;
  private words!: Uint32Array;
  private doubles!: Float64Array;
  /** Views of the buffer by array type, made on first use. */
  private views = new Map<unknown, CopyView>();

  constructor(capacity: number) {
    this.setBuffer(Buffer.allocUnsafeSlow(Math.max(align8(capacity), 4096)));
  }

  private setBuffer(buffer: Buffer): void {
    this.buffer = buffer;
    this.words = new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.length / 4);
    this.doubles = new Float64Array(buffer.buffer, buffer.byteOffset, buffer.length / 8);
    this.views.clear();
  }

  /** Copies a block's bytes to `at` (8-aligned): through a view of its own type when there is one, else through a byte view. */
  private copy(data: ArrayBufferView, len: number, at: number): void {
    const type = data.constructor;
    // A same-type copy needs no byte view of the block; the length check
    // keeps an array whose prototype was swapped on the byte path.
    const size = SAME_TYPE_COPY.includes(type as never) ? (type as (typeof SAME_TYPE_COPY)[number]).BYTES_PER_ELEMENT : 0;
    if (size && (data as CopyView).length * size === len) {
      let view = this.views.get(type);
      if (!view) this.views.set(type, (view = new (type as (typeof SAME_TYPE_COPY)[number])(this.buffer.buffer as ArrayBuffer, this.buffer.byteOffset, this.buffer.length / size)));
      (view as Float64Array).set(data as Float64Array, at / size);
    } else this.buffer.set(data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, len), at);
  }

  /** Copies the record in; its arrays may change as soon as this returns. */
  add(id: number, record: NormalizedRecord, headBytes: number, schemaBytes: number, size: number): void {
    this.reserve(size);
    const buf = this.buffer;
    const words = this.words;
    const start = this.used; // 8-aligned, like every record
    const w = start / 4;
    // Every byte is written, reserved ones and padding as zeros: the batch
    // buffer is reused, and a memset of the whole record would cost more.
    words[w] = id % 0x1_0000_0000;
    words[w + 1] = Math.floor(id / 0x1_0000_0000);
    this.doubles[start / 8 + 1] = record.time;
    words[w + 4] = headBytes;
    words[w + 5] = schemaBytes;
    words[w + 6] = record.blocks.length;
    words[w + 7] = 0; // codec raw, 3 zero bytes
    words[w + 9] = 0;
    let at = start + HEADER + record.blocks.length * ENTRY;
    at += buf.write(record.head, at, headBytes, 'utf8');
    at += buf.write(record.schema, at, schemaBytes, 'utf8');
    let dataLen = 0;
    const blocks = record.blocks;
    for (let i = 0; i < blocks.length; i++) {
      const { data, elem } = blocks[i];
      const len = data.byteLength;
      words[w + HEADER / 4 + 2 * i] = elem; // element size, 3 zero bytes
      words[w + HEADER / 4 + 2 * i + 1] = len;
      at = this.pad(at, start);
      this.copy(data, len, at);
      at += len;
      dataLen += len;
    }
    this.pad(at, start);
    words[w + 8] = dataLen;
    this.used = start + size;
    this.count++;
  }

  /** Zeroes from `at` to the next 8-byte boundary of the record at `start`; returns that boundary. */
  private pad(at: number, start: number): number {
    const aligned = start + align8(at - start);
    if (aligned > at) this.buffer.fill(0, at, aligned);
    return aligned;
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
    if (this.buffer.length > 4 * keepBytes) this.setBuffer(Buffer.allocUnsafeSlow(align8(keepBytes)));
  }

  private reserve(size: number): void {
    if (this.used + size <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafeSlow(align8(Math.max(this.used + size, this.buffer.length * 2)));
    this.buffer.copy(bigger, 0, 0, this.used);
    this.setBuffer(bigger);
  }
}
