// The five ways the corruption stress damages a store's checkpoint files
//: bit flips, a truncation, a zeroed 4 KiB page, two
// files' contents swapped, a file deleted behind the catalog's back. Flips
// and pages land only on bytes a reader reads (header, chunks, index,
// footer; never the padding between chunks) and always change one, so every
// damage is one a verified load must notice.
import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { inspectFromSync, STORE } from '../../src/file/checkpoint-file.js';

export type DamageKind = 'bitflip' | 'truncate' | 'zero-page' | 'swap' | 'delete';
export const DAMAGE_KINDS: readonly DamageKind[] = ['bitflip', 'truncate', 'zero-page', 'swap', 'delete'];

const PAGE = 4096;
const HEADER = 64;
const FOOTER = 40;

/** The byte ranges [start, end) of a checkpoint file that a verified read reads. */
export function readRanges(path: string): Array<[number, number]> {
  const size = statSync(path).size;
  const index = inspectFromSync(path, STORE);
  const footerAt = size - FOOTER;
  const fd = openSync(path, 'r');
  const footer = Buffer.alloc(8);
  try {
    readSync(fd, footer, 0, 8, footerAt);
  } finally {
    closeSync(fd);
  }
  const ranges: Array<[number, number]> = [[0, HEADER], [Number(footer.readBigUInt64LE(0)), size]];
  for (const t of index.tensors) for (const [offset, storedLen] of t.chunks) ranges.push([offset, offset + storedLen]);
  return ranges.sort((a, b) => a[0] - b[0]);
}

/** A uniformly drawn byte offset inside the ranges. */
function pick(ranges: Array<[number, number]>, random: () => number): number {
  const total = ranges.reduce((sum, [a, b]) => sum + (b - a), 0);
  let at = Math.floor(random() * total);
  for (const [a, b] of ranges) {
    if (at < b - a) return a + at;
    at -= b - a;
  }
  throw new Error('empty ranges');
}

function patch(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** What was done, for the failure report. */
export interface Damage {
  kind: DamageKind;
  files: string[];
  detail: string;
}

/**
 * Damages `victims` (one file; two for a swap) in place. `ranges` gives the
 * read ranges of a victim (computed before any damage, from a pristine copy).
 */
export function damage(
  kind: DamageKind, victims: string[], ranges: (path: string) => Array<[number, number]>, random: () => number,
): Damage {
  const [path] = victims;
  switch (kind) {
    case 'bitflip': {
      const flips = 1 + Math.floor(random() * 8);
      const bytes = readFileSync(path);
      const at = new Map<number, number>();
      for (let i = 0; i < flips; i++) {
        const offset = pick(ranges(path), random);
        at.set(offset, (at.get(offset) ?? 0) ^ (1 << Math.floor(random() * 8)));
      }
      // Two flips of one bit cancel: keep only offsets that end up changed.
      const changed = [...at].filter(([, mask]) => mask !== 0);
      if (changed.length === 0) changed.push([[...at.keys()][0], 1]);
      for (const [offset, mask] of changed) patch(path, offset, Uint8Array.of(bytes[offset] ^ mask));
      return { kind, files: [path], detail: changed.map(([o, m]) => `byte ${o} ^ 0x${m.toString(16)}`).join(', ') };
    }
    case 'truncate': {
      const size = statSync(path).size;
      const length = Math.floor(random() * size);
      truncateSync(path, length);
      return { kind, files: [path], detail: `to ${length} of ${size} bytes` };
    }
    case 'zero-page': {
      const bytes = readFileSync(path);
      const read = ranges(path);
      // Pages holding a read byte that is not zero: zeroing one changes what a reader sees.
      const pages = new Set<number>();
      for (const [a, b] of read) for (let i = a; i < b; i++) if (bytes[i] !== 0) pages.add(Math.floor(i / PAGE));
      const all = [...pages].sort((x, y) => x - y);
      const page = all[Math.floor(random() * all.length)];
      const end = Math.min(bytes.length, (page + 1) * PAGE);
      patch(path, page * PAGE, new Uint8Array(end - page * PAGE));
      return { kind, files: [path], detail: `page ${page} (bytes ${page * PAGE}..${end})` };
    }
    case 'swap': {
      const [a, b] = victims;
      renameSync(a, `${a}.swap`);
      renameSync(b, a);
      renameSync(`${a}.swap`, b);
      return { kind, files: [a, b], detail: 'contents swapped' };
    }
    case 'delete':
      rmSync(path);
      return { kind, files: [path], detail: 'deleted' };
  }
}
