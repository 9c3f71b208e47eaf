// The machine's limits, each measured several ways in the same run: a copy
// of the tensors in memory, a durable write of their raw bytes, and a read of
// them from the page cache. A limit is the best of its ways and of the
// contenders doing the same work (limits.ts): one way being slow on this
// machine, or in this minute, must not make a contender look near the limit.
import { closeSync, openSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { keepingNewest, offsetsOf, pageAligned, rawBytesOf, readFully, syncDir, toBuffer, writeAllSync } from '../lib/io.js';
import type { Contender } from './contenders.js';

const MiB = 2 ** 20;

/** A copy of every tensor into one pre-faulted, page-aligned buffer: the least a snapshot can cost. */
function memcpy(id: string, label: string, threads: 0 | 1 | 2): Contender {
  return {
    id, label, kind: 'limit', durable: false, verified: false, writes: false,
    // A copy on one thread is also a way to copy on two: the 2-thread limit is never above the 1-thread one.
    limits: threads === 2 ? ['memcpy-2'] : ['memcpy-1', 'memcpy-2'],
    start({ tensors }) {
      const staging = pageAligned(rawBytesOf(tensors));
      const offsets = offsetsOf(tensors);
      const sources = tensors.map(([, t]) => t.data);
      const views = sources.map(toBuffer);
      return {
        // 0: Buffer.copy on the calling thread; 1 or 2: the store's own snapshot copy.
        save: threads === 0
          ? () => views.forEach((v, i) => v.copy(staging, offsets[i]))
          : () => native.snapshot(sources, staging, offsets, threads),
        close() {},
      };
    },
  };
}

/** Writes a buffer in pieces of `piece` bytes (or at once), then fsyncs; the file is on disk when this returns. */
function writePieces(path: string, raw: Buffer, piece: number): void {
  if (piece >= raw.length) return void writeAllSync(path, [raw]);
  writeAllSync(path, Array.from({ length: Math.ceil(raw.length / piece) }, (_, i) => raw.subarray(i * piece, (i + 1) * piece)));
}

function readPieces(path: string, into: Buffer, piece: number): void {
  const fd = openSync(path, 'r');
  try {
    for (let off = 0; off < into.length; off += piece) readFully(fd, into.subarray(off, off + piece), off);
  } finally { closeSync(fd); }
}

interface RawWay {
  /** Bytes per write and per read call (Infinity: one call). */
  writes: number;
  reads: number;
  /** Written as a temporary name, then renamed and the directory fsync'd: what an atomic save does on top. */
  rename: boolean;
}

/** The raw bytes as one pre-built buffer, written durably and read back from the page cache. */
function rawBytes(id: string, label: string, way: RawWay): Contender {
  return {
    id, label, kind: 'limit', durable: true, verified: false, writes: true,
    limits: ['durable-write', 'page-cache-read'],
    start({ dir, tensors }) {
      const raw = pageAligned(rawBytesOf(tensors));
      const offsets = offsetsOf(tensors);
      tensors.forEach(([, t], i) => toBuffer(t.data).copy(raw, offsets[i]));
      let path = '';
      const keep = keepingNewest(dir);
      return {
        save(step) {
          path = join(dir, `${step}.bin`);
          if (!way.rename) return writePieces(path, raw, way.writes);
          writePieces(`${path}.tmp`, raw, way.writes);
          renameSync(`${path}.tmp`, path);
          syncDir(dir);
        },
        load: () => readPieces(path, raw, Math.min(way.reads, raw.length)),
        prune: () => keep(path),
        bytesOnDisk: () => statSync(path).size,
        close() {},
      };
    },
  };
}

export const LIMIT_WAYS: readonly Contender[] = [
  memcpy('memcpy-1', 'way: memcpy (Buffer.copy), 1 thread', 0),
  memcpy('memcpy-1-native', 'way: memcpy (native.snapshot), 1 thread', 1),
  memcpy('memcpy-2', 'way: memcpy (native.snapshot), 2 threads', 2),
  rawBytes('raw-bytes', 'way: raw bytes, 1 write + fsync; 1 read', { writes: Infinity, reads: Infinity, rename: false }),
  rawBytes('raw-bytes-8mib', 'way: raw bytes, 8 MiB writes + fsync; 8 MiB reads', { writes: 8 * MiB, reads: 8 * MiB, rename: false }),
  rawBytes('raw-bytes-rename', 'way: raw bytes, 1 write + fsync + rename + dir fsync; 1 MiB reads', { writes: Infinity, reads: MiB, rename: true }),
];
