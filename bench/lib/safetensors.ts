// A safetensors file written and read from the public format description
// (8-byte little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets: [begin, end]}} padded with spaces to
// 8 bytes, then the tensors' bytes back to back). The benchmark's
// "safetensors-style" baseline, and how workloads are handed to child processes.
import { closeSync, fstatSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { DTYPES, type Dtype, type Tensor } from '../../src/file/tensors.js';
import { readFully, syncDir, writeAllSync } from './io.js';

const NAMES: Record<Dtype, string> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16',
  int8: 'I8', uint64: 'U64', uint32: 'U32', uint16: 'U16', uint8: 'U8', bool: 'BOOL',
};
const DTYPE_OF = new Map(Object.entries(NAMES).map(([dtype, name]) => [name, dtype as Dtype]));
/** Readers refuse bigger headers (as the reference implementation does). */
const MAX_HEADER_BYTES = 100_000_000;

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }

function header(tensors: Array<[string, Tensor]>): Buffer {
  const entries: Record<string, Entry> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    entries[name] = { dtype: NAMES[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(entries));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/** Header and tensors to `<path>.tmp`, fsync, rename, fsync of the directory: durable and atomic. */
export function writeSafetensorsSync(path: string, tensors: Array<[string, Tensor]>): number {
  const tmp = `${path}.tmp`;
  const bytes = writeAllSync(tmp, [header(tensors), ...tensors.map(([, t]) => t.data)]);
  renameSync(tmp, path);
  syncDir(dirname(path));
  return bytes;
}

/**
 * Reads every tensor, checking the header first (offsets contiguous, in the
 * file, sizes matching shape and dtype). With `into`, the bytes land in those
 * arrays (names, dtypes and sizes must match); otherwise in new ones.
 */
export function readSafetensorsSync(path: string, into?: Array<[string, Tensor]>): Array<[string, Tensor]> {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    const lengthBytes = Buffer.alloc(8);
    readFully(fd, lengthBytes, 0);
    const headerBytes = Number(lengthBytes.readBigUInt64LE(0));
    if (headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > fileBytes) throw new Error(`${path}: header of ${headerBytes} bytes does not fit`);
    const json = Buffer.alloc(headerBytes);
    readFully(fd, json, 8);
    const entries = Object.entries(JSON.parse(json.toString('utf8')) as Record<string, Entry>)
      .filter(([name]) => name !== '__metadata__')
      .sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0]);
    const targets = new Map(into);
    let expected = 0;
    const out = entries.map(([name, e]): [string, Tensor] => {
      const dtype = DTYPE_OF.get(e.dtype);
      const [begin, end] = e.data_offsets;
      const elements = e.shape.reduce((a, b) => a * b, 1);
      if (!dtype || begin !== expected || end - begin !== elements * DTYPES[dtype].size || 8 + headerBytes + end > fileBytes)
        throw new Error(`${path}: tensor "${name}" (${e.dtype} [${e.shape}] at ${begin}..${end}) is not where the header says`);
      expected = end;
      const target = into ? targets.get(name) : { dtype, shape: e.shape, data: new DTYPES[dtype].array(new ArrayBuffer(end - begin)) };
      if (!target || target.dtype !== dtype || target.data.byteLength !== end - begin) throw new Error(`${path}: no matching target for "${name}"`);
      readFully(fd, target.data, 8 + headerBytes + begin);
      return [name, target];
    });
    if (8 + headerBytes + expected !== fileBytes) throw new Error(`${path}: ${fileBytes - 8 - headerBytes - expected} bytes after the last tensor`);
    return out;
  } finally {
    closeSync(fd);
  }
}
