// File and memory primitives the benchmarks measure with: the machine's own
// limits are written with these, so they must be the best case, not an accident.
import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import type { Tensor } from '../../src/file/tensors.js';

export const toBuffer = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Where each tensor's bytes start when the tensors are laid back to back. */
export const offsetsOf = (tensors: Array<[string, Tensor]>) => {
  const offsets: number[] = [];
  tensors.reduce((off, [, t]) => (offsets.push(off), off + t.data.byteLength), 0);
  return offsets;
};
export const rawBytesOf = (tensors: Array<[string, Tensor]>) => tensors.reduce((sum, [, t]) => sum + t.data.byteLength, 0);

/**
 * A page-aligned, pre-faulted buffer (WebAssembly memory is page-aligned). A
 * large malloc'd buffer starts 16 bytes past a page, and copying a page-aligned
 * source (a file's page cache) into it runs 2-3x slower on this machine (4K
 * aliasing: destination 16 bytes ahead of the source modulo 4096).
 */
export function pageAligned(bytes: number): Buffer {
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  return Buffer.from(memory.buffer, 0, bytes).fill(1);
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * What each call keeps (a file or directory in `dir`): the one kept before
 * goes, and the directory is fsync'd so that the delete is done, not left
 * for the next timed write to pay.
 */
export function keepingNewest(dir: string): (newest: string) => void {
  let kept: string | null = null;
  return (newest) => {
    if (kept !== null && kept !== newest) {
      rmSync(kept, { recursive: true, force: true });
      syncDir(dir);
    }
    kept = newest;
  };
}

/** Writes every buffer in order and fsyncs: the file is on disk when this returns. */
export function writeAllSync(path: string, data: ArrayBufferView[]): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    for (const d of data) {
      const b = toBuffer(d);
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
      bytes += b.length;
    }
    fsyncSync(fd);
  } finally { closeSync(fd); }
  return bytes;
}

/** Reads `into.byteLength` bytes at `position` of an open file, in as many reads as it takes. */
export function readFully(fd: number, into: ArrayBufferView, position: number): void {
  const b = toBuffer(into);
  for (let off = 0; off < b.length;) {
    const n = readSync(fd, b, off, b.length - off, position + off);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + off}`);
    off += n;
  }
}
