// Damage a valid checkpoint at random — single bit flips, truncations, lost
// pages — and check the reader's promise: every damaged file either fails
// with E_CORRUPT or (when the damage hit bytes nothing reads: the padding
// between chunks) loads bit-exact. Never a crash, another error, or a tensor
// that silently differs from what was written.
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError, inspectCheckpoint, readCheckpoint, readCheckpointSync, verifyCheckpoint, writeCheckpointSync, type CheckpointIndex, type LoadedCheckpoint, type TensorDict,
} from '../../src/index.js';
import { inspectFromSync, verifyFromSync, STORE } from '../../src/file/checkpoint-file.js';
import { expectRejectsCode, expectThrowsCode, FOOTER_SIZE, HEADER_SIZE, rng, sameBytes, tempDir, weights } from '../helpers.js';

const dir = tempDir();
const original = join(dir, 'original.tkpt');
const scratch = join(dir, 'scratch.tkpt');

/** ~200 KB over 14 chunks of 16 KiB: compressible floats (shuffle+zstd) and noise (stored raw). */
function sourceTensors(): TensorDict {
  const w = weights(25_000, 11); // normal weights: shuffle+zstd saves ~15%
  const rand = rng(12);
  const noise = Uint8Array.from({ length: 110_000 }, () => Math.floor(rand() * 256));
  return {
    w,
    noise,
    bias: new Int32Array([1, -2, 3, -4, 5]),
    scalar: { dtype: 'float64', shape: [], data: new Float64Array([Math.PI]) },
  };
}

const tensors = sourceTensors();
let bytes: Buffer;
let index: CheckpointIndex;
/** What reads every byte: 'h'eader, 'c'hunk, 'i'ndex, 'f'ooter, or 0 for padding. */
let region: Uint8Array;
const H = 1, C = 2, I = 3, F = 4;

function dataOf(name: string): ArrayBufferView {
  const t = tensors[name];
  return ArrayBuffer.isView(t) ? t : t.data;
}

function exact(loaded: LoadedCheckpoint): boolean {
  const names = Object.keys(loaded.tensors);
  if (names.join() !== Object.keys(tensors).join()) return false;
  return names.every((n) => sameBytes(loaded.tensors[n].data, dataOf(n)));
}

type Outcome = 'corrupt' | 'exact' | 'wrong' | 'other';

// One scratch file, rewritten in place for every case. Not writeFileSync: on
// ext4 a file truncated to zero is flushed to disk when closed
// (auto_da_alloc), which would make every case wait for the disk.
let scratchFd = -1;
function writeScratch(damaged: Uint8Array): void {
  if (scratchFd < 0) scratchFd = openSync(scratch, 'w+');
  writeSync(scratchFd, damaged, 0, damaged.length, 0);
  ftruncateSync(scratchFd, damaged.length);
}
afterAll(() => {
  if (scratchFd >= 0) closeSync(scratchFd);
});

/** Reads the damaged bytes through the verifying reader and classifies what happened. */
// One decode thread: starting threads costs more than decoding 200 KB, and the
// async comparison below covers the threaded path.
function outcomeOf(damaged: Uint8Array, read = (path: string) => readCheckpointSync(path, { threads: 1 })): { outcome: Outcome; detail: string } {
  writeScratch(damaged);
  try {
    return exact(read(scratch)) ? { outcome: 'exact', detail: '' } : { outcome: 'wrong', detail: 'loaded, but the data differs' };
  } catch (err) {
    if (err instanceof CheckpointError && err.code === 'E_CORRUPT') return { outcome: 'corrupt', detail: err.message };
    return { outcome: 'other', detail: `${(err as Error)?.constructor?.name} ${(err as { code?: string }).code}: ${String(err)}` };
  }
}

async function outcomeOfAsync(damaged: Uint8Array): Promise<Outcome> {
  writeScratch(damaged);
  try {
    return exact(await readCheckpoint(scratch)) ? 'exact' : 'wrong';
  } catch (err) {
    return err instanceof CheckpointError && err.code === 'E_CORRUPT' ? 'corrupt' : 'other';
  }
}

function tally(outcomes: Outcome[]): Record<Outcome, number> {
  const t: Record<Outcome, number> = { corrupt: 0, exact: 0, wrong: 0, other: 0 };
  for (const o of outcomes) t[o]++;
  return t;
}

/** First offset of a chunk of the given codec (and its stored length). */
function chunkWith(codec: string): { offset: number; storedLen: number; tensor: string; chunk: number } {
  for (const t of index.tensors)
    for (let i = 0; i < t.chunks.length; i++)
      if (t.chunks[i][3] === codec) return { offset: t.chunks[i][0], storedLen: t.chunks[i][1], tensor: t.name, chunk: i };
  throw new Error(`no ${codec} chunk`);
}

function flipped(at: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] ^= 1 << bit;
  return copy;
}

beforeAll(() => {
  index = writeCheckpointSync(original, tensors, { step: 9, metrics: { loss: 0.5 } }, { codec: 'shuffle+zstd', chunkBytes: 16384 });
  bytes = readFileSync(original);
  region = new Uint8Array(bytes.length);
  region.fill(H, 0, HEADER_SIZE);
  for (const t of index.tensors) for (const [offset, storedLen] of t.chunks) region.fill(C, offset, offset + storedLen);
  const footerAt = bytes.length - FOOTER_SIZE;
  const indexAt = Number(bytes.readBigUInt64LE(footerAt));
  region.fill(I, indexAt, footerAt);
  region.fill(F, footerAt);
});

describe('the damaged file under test', () => {
  it('is ~200 KB of 16 KiB chunks, shuffle+zstd and raw mixed, with little padding', () => {
    const chunks = index.tensors.flatMap((t) => t.chunks);
    expect(bytes.length).toBeGreaterThan(150_000);
    expect(bytes.length).toBeLessThan(250_000);
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(chunks.some((c) => c[3] === 'shuffle+zstd')).toBe(true);
    expect(chunks.some((c) => c[3] === 'raw' && c[2] === 16384)).toBe(true);
    const padding = region.filter((r) => r === 0).length;
    expect(padding).toBeGreaterThan(0); // compressed chunks end off the 64-byte grid
    expect(padding / bytes.length).toBeLessThan(0.02);
    expect(exact(readCheckpointSync(original))).toBe(true);
  });
});

describe('random damage to a valid file', () => {
  it('2 000 single-bit flips: each is E_CORRUPT, or lands in padding and loads bit-exact', () => {
    const rand = rng(2024);
    const outcomes: Outcome[] = [];
    const problems: string[] = [];
    let inPadding = 0;
    for (let n = 0; n < 2000; n++) {
      const at = Math.floor(rand() * bytes.length);
      const bit = Math.floor(rand() * 8);
      const { outcome, detail } = outcomeOf(flipped(at, bit));
      outcomes.push(outcome);
      const where = region[at];
      if (where === 0) inPadding++;
      // Padding is never read, so a flip there must not matter. Header, index
      // and footer are checked byte for byte, so a flip there must be caught.
      // A flip inside a chunk must be caught unless the chunk still decodes to
      // the very same bytes (which the checksum then confirms).
      const ok =
        where === 0 ? outcome === 'exact' : where === C ? outcome === 'corrupt' || outcome === 'exact' : outcome === 'corrupt';
      if (!ok && problems.length < 10) problems.push(`byte ${at} bit ${bit} (region ${where}): ${outcome} ${detail}`);
    }
    const t = tally(outcomes);
    console.log(`bit flips: ${JSON.stringify(t)}, ${inPadding} in padding`);
    expect(problems).toEqual([]);
    expect(t.wrong).toBe(0); // undetected, and the data is wrong: the one unforgivable outcome
    expect(t.other).toBe(0);
    expect(t.corrupt + t.exact).toBe(2000);
    expect(t.corrupt).toBeGreaterThanOrEqual(0.9 * 2000);
  });

  it('200 truncations to a random length in [0, size): each is E_CORRUPT', () => {
    const rand = rng(7);
    const lengths = [0, 1, 63, 64, 103, 104, bytes.length - FOOTER_SIZE, bytes.length - 1];
    while (lengths.length < 200) lengths.push(Math.floor(rand() * bytes.length));
    const problems: string[] = [];
    for (const len of lengths) {
      const { outcome, detail } = outcomeOf(bytes.subarray(0, len));
      if (outcome !== 'corrupt') problems.push(`length ${len}: ${outcome} ${detail}`);
    }
    expect(problems).toEqual([]);
  });

  it('50 lost 4 KiB pages (zeroed): each is E_CORRUPT or loads bit-exact', () => {
    const rand = rng(99);
    const outcomes: Outcome[] = [];
    const problems: string[] = [];
    for (let n = 0; n < 50; n++) {
      // Half on the page grid (a lost page write), half anywhere.
      const at = n % 2 === 0 ? Math.floor(rand() * Math.ceil(bytes.length / 4096)) * 4096 : Math.floor(rand() * bytes.length);
      const damaged = Buffer.from(bytes);
      damaged.fill(0, at, Math.min(at + 4096, bytes.length));
      const { outcome, detail } = outcomeOf(damaged);
      outcomes.push(outcome);
      // Any change to header, index or footer must be caught.
      let checked = false;
      for (let i = at; i < Math.min(at + 4096, bytes.length); i++)
        if (bytes[i] !== 0 && region[i] !== 0 && region[i] !== C) checked = true;
      if (outcome === 'wrong' || outcome === 'other' || (checked && outcome !== 'corrupt'))
        problems.push(`page at ${at}: ${outcome} ${detail}`);
    }
    const t = tally(outcomes);
    expect(problems).toEqual([]);
    expect(t.corrupt).toBeGreaterThanOrEqual(45); // every page holds non-zero chunk bytes
  });

  it('the async reader classifies 100 bit flips exactly as the sync one does', async () => {
    const rand = rng(5);
    for (let n = 0; n < 100; n++) {
      const damaged = flipped(Math.floor(rand() * bytes.length), Math.floor(rand() * 8));
      const sync = outcomeOf(damaged).outcome;
      expect(await outcomeOfAsync(damaged)).toBe(sync);
    }
  });
});

describe('inspect and verify on damaged files', () => {
  it('inspect reads no tensor bytes: a flipped bit in a raw chunk passes inspect, fails verify and read', async () => {
    const c = chunkWith('raw');
    writeScratch(flipped(c.offset + 100, 3));
    expect(inspectFromSync(scratch, STORE).tensors.map((t) => t.name)).toEqual(Object.keys(tensors));
    await expect(inspectCheckpoint(scratch)).resolves.toBeTruthy();
    const message = `chunk ${c.chunk} of "${c.tensor}": checksum mismatch`;
    expectThrowsCode(() => verifyFromSync(scratch, {}, STORE), 'E_CORRUPT', message);
    await expectRejectsCode(verifyCheckpoint(scratch), 'E_CORRUPT', message);
    expectThrowsCode(() => readCheckpointSync(scratch), 'E_CORRUPT', message);
    await expectRejectsCode(readCheckpoint(scratch), 'E_CORRUPT', message);
  });

  it('a flipped bit in a shuffle+zstd chunk passes inspect and fails verify', async () => {
    const c = chunkWith('shuffle+zstd');
    writeScratch(flipped(c.offset + Math.floor(c.storedLen / 2), 5));
    expect(() => inspectFromSync(scratch, STORE)).not.toThrow();
    expectThrowsCode(() => verifyFromSync(scratch, {}, STORE), 'E_CORRUPT', `chunk ${c.chunk} of "${c.tensor}"`);
    await expectRejectsCode(verifyCheckpoint(scratch), 'E_CORRUPT', `chunk ${c.chunk} of "${c.tensor}"`);
  });

  it('verify: false skips the checksums: a flipped raw-chunk bit loads as the flipped byte', () => {
    const c = chunkWith('raw');
    const at = c.offset + 100;
    writeScratch(flipped(at, 3));
    const loaded = readCheckpointSync(scratch, { verify: false });
    const got = loaded.tensors[c.tensor].data as Uint8Array;
    const want = dataOf(c.tensor) as Uint8Array;
    const diffs = [...got.keys()].filter((i) => got[i] !== want[i]);
    expect(diffs).toHaveLength(1);
    expect(got[diffs[0]] ^ want[diffs[0]]).toBe(1 << 3);
  });

  it('a flipped bit in the index fails inspect and verify with E_CORRUPT', async () => {
    const indexAt = Number(bytes.readBigUInt64LE(bytes.length - FOOTER_SIZE));
    writeScratch(flipped(indexAt + 10, 1));
    expectThrowsCode(() => inspectFromSync(scratch, STORE), 'E_CORRUPT', 'index checksum mismatch');
    await expectRejectsCode(inspectCheckpoint(scratch), 'E_CORRUPT', 'index checksum mismatch');
    expectThrowsCode(() => verifyFromSync(scratch, {}, STORE), 'E_CORRUPT', 'index checksum mismatch');
  });

  it.each([
    ['index offset', 0],
    ['index length', 8],
    ['index xxh3', 16],
    ['format version', 24],
    ['reserved field', 28],
    ['magic', 32],
  ])('a flipped bit in the footer %s fails inspect and verify with E_CORRUPT', async (_field, offset) => {
    writeScratch(flipped(bytes.length - FOOTER_SIZE + offset, 2));
    expectThrowsCode(() => inspectFromSync(scratch, STORE), 'E_CORRUPT');
    await expectRejectsCode(inspectCheckpoint(scratch), 'E_CORRUPT');
    expectThrowsCode(() => verifyFromSync(scratch, {}, STORE), 'E_CORRUPT');
  });

  it('a file cut short by one byte fails inspect with E_CORRUPT', async () => {
    writeScratch(bytes.subarray(0, bytes.length - 1));
    expectThrowsCode(() => inspectFromSync(scratch, STORE), 'E_CORRUPT', 'bad footer magic');
    await expectRejectsCode(verifyCheckpoint(scratch), 'E_CORRUPT', 'bad footer magic');
  });
});
