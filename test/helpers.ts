import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { CheckpointError, type ErrorCode } from '../src/errors.js';
import { native } from '../src/native.js';

/** A fresh temporary directory, removed once the enclosing suite has run. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tensorkeep-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Byte-for-byte equality of two views (NaN payloads and -0 included). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Weights drawn like trained ones: normal, std 0.02. */
export function weights(n: number, seed = 1): Float32Array {
  const rand = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = 0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

// ---------------------------------------------------------------------------
// Error assertions shared by the suites that attack the file API.

/** Runs fn and returns the error it throws, or fails the test when it returns. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw, but the call returned');
}

/** Asserts `err` is a CheckpointError with this code and a message matching `message`. */
export function expectCheckpointError(err: unknown, code: ErrorCode, message?: string | RegExp): asserts err is CheckpointError {
  expect(err, String(err)).toBeInstanceOf(CheckpointError);
  const e = err as CheckpointError;
  expect(e.code, e.message).toBe(code);
  if (typeof message === 'string') expect(e.message).toContain(message);
  else if (message) expect(e.message).toMatch(message);
}

/** fn() must throw a CheckpointError with this code (and message). */
export function expectThrowsCode(fn: () => unknown, code: ErrorCode, message?: string | RegExp): CheckpointError {
  const err = thrownBy(fn);
  expectCheckpointError(err, code, message);
  return err;
}

/** The promise must reject with a CheckpointError with this code (and message). */
export async function expectRejectsCode(p: Promise<unknown>, code: ErrorCode, message?: string | RegExp): Promise<CheckpointError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error('expected a rejection, but the promise resolved');
  expectCheckpointError(err, code, message);
  return err;
}

/** The bytes of a view, as a Uint8Array over the same memory. */
export function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// ---------------------------------------------------------------------------
// A builder of hand-crafted .tkpt files (format version 1, docs/FORMAT.md), for
// tests that feed the reader what no writer would produce.

export const HEADER_MAGIC = Buffer.from('TKPT\r\n\x1a\n', 'latin1');
export const FOOTER_MAGIC = Buffer.from('TKPTEND\n', 'latin1');
export const HEADER_SIZE = 64;
export const FOOTER_SIZE = 40;

/** xxh3-64 of the bytes, as the native code computes it. */
export function xxh3Hex(bytes: ArrayBufferView): string {
  return native.xxh3(bytes);
}

export type ChunkTuple = [offset: number, storedLen: number, rawLen: number, codec: string, xxh3: string];

/** One chunk as it lies in the file: stored bytes, plus what the index says about them. */
export interface CraftChunk {
  stored: Uint8Array;
  /** Defaults to stored.length (a raw chunk). */
  rawLen?: number;
  /** Defaults to 'raw'. */
  codec?: string;
  /** xxh3 of the raw bytes; defaults to the xxh3 of `stored`. */
  xxh3?: string;
}

export interface CraftTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** The raw bytes, stored as one raw chunk (none when empty). */
  bytes?: Uint8Array;
  /** Or explicit chunks. */
  chunks?: CraftChunk[];
  /** Defaults to the sum of the chunks' raw lengths. */
  nbytes?: number;
}

/** The index JSON object the builder serializes; edit it through `editIndex`. */
export interface CraftIndex {
  format_version: number;
  tensors: Array<{ name: string; dtype: string; shape: number[]; nbytes: number; chunks: ChunkTuple[] }>;
  [key: string]: unknown;
}

export interface CraftOptions {
  headerVersion?: number;
  footerVersion?: number;
  headerFlags?: number;
  footerReserved?: number;
  footerMagic?: Uint8Array;
  /** Tamper with the index object before it is serialized. */
  editIndex?: (index: CraftIndex) => void;
  /** Use these bytes as the index instead of the serialized object. */
  indexBytes?: Uint8Array | string;
  /** Footer fields; default to the true values. */
  indexOffset?: bigint;
  indexLen?: bigint;
  indexHash?: bigint;
}

/** Builds a complete file: header, chunks at 64-byte aligned offsets, index, footer. */
export function craftCheckpoint(tensors: CraftTensor[], options: CraftOptions = {}): Buffer {
  const parts: Array<{ offset: number; bytes: Uint8Array }> = [];
  let offset = HEADER_SIZE;
  const entries = tensors.map((t) => {
    const chunks: CraftChunk[] = t.chunks ?? (t.bytes && t.bytes.length > 0 ? [{ stored: t.bytes }] : []);
    const tuples = chunks.map((c): ChunkTuple => {
      const tuple: ChunkTuple = [offset, c.stored.length, c.rawLen ?? c.stored.length, c.codec ?? 'raw', c.xxh3 ?? xxh3Hex(c.stored)];
      parts.push({ offset, bytes: c.stored });
      offset = Math.ceil((offset + c.stored.length) / 64) * 64;
      return tuple;
    });
    const nbytes = t.nbytes ?? tuples.reduce((sum, c) => sum + c[2], 0);
    return { name: t.name, dtype: t.dtype, shape: t.shape, nbytes, chunks: tuples };
  });
  const index: CraftIndex = {
    format_version: 1,
    created: '2024-01-01T00:00:00.000Z',
    writer: 'handcrafted',
    model: null,
    seq: null,
    step: 0,
    epoch: 0,
    category: null,
    reasons: [],
    metrics: {},
    meta: {},
    codec: { name: 'raw', level: 1, chunk_bytes: 4194304 },
    tensors: entries,
  };
  options.editIndex?.(index);
  const indexBytes =
    options.indexBytes === undefined
      ? Buffer.from(JSON.stringify(index), 'utf8')
      : typeof options.indexBytes === 'string'
        ? Buffer.from(options.indexBytes, 'utf8')
        : options.indexBytes;
  return assembleCheckpoint(parts, indexBytes, offset, options);
}

/** Lays out header, the given byte ranges, the index at `indexAt` and the footer. */
export function assembleCheckpoint(
  parts: Array<{ offset: number; bytes: Uint8Array }>, indexBytes: Uint8Array, indexAt: number, options: CraftOptions = {},
): Buffer {
  const size = indexAt + indexBytes.length + FOOTER_SIZE;
  const file = Buffer.alloc(size);
  HEADER_MAGIC.copy(file, 0);
  file.writeUInt32LE(options.headerVersion ?? 1, 8);
  file.writeUInt32LE(options.headerFlags ?? 0, 12);
  for (const p of parts) file.set(p.bytes, p.offset);
  file.set(indexBytes, indexAt);
  const footer = size - FOOTER_SIZE;
  file.writeBigUInt64LE(options.indexOffset ?? BigInt(indexAt), footer);
  file.writeBigUInt64LE(options.indexLen ?? BigInt(indexBytes.length), footer + 8);
  file.writeBigUInt64LE(options.indexHash ?? BigInt('0x' + xxh3Hex(indexBytes)), footer + 16);
  file.writeUInt32LE(options.footerVersion ?? 1, footer + 24);
  file.writeUInt32LE(options.footerReserved ?? 0, footer + 28);
  file.set(options.footerMagic ?? FOOTER_MAGIC, footer + 32);
  return file;
}
