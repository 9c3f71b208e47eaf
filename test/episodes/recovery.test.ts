// Recovery at open and damage found while reading: a torn tail is cut back
// to the last whole record, a damaged record in the middle is skipped and
// reported with its neighbours readable, a lost or stale index is rebuilt
// from the segment, an unknown format version is E_VERSION, and no bit flip
// ever crashes an open or returns a wrong record.
import { copyFileSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, type CheckpointManager, type EpisodeLog, type StoredEpisode } from '../../src/index.js';
import { native } from '../../src/native.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { rng, sameBytes, tempDir } from '../helpers.js';
import { onEvent } from '../fixtures/events.js';

const root = tempDir();
const SEGMENT = '00000001.tkeps';

/** A stream of `n` records, each committed alone; returns the segment size after each (ends[i] = end of record i + 1). */
async function writeStream(n: number, options = {}): Promise<{ dir: string; ends: number[]; store: CheckpointManager }> {
  const store = await freshStore(root);
  const log = store.episodes('s', { commitMs: 60_000, ...options });
  const ends: number[] = [];
  for (let i = 0; i < n; i++) {
    log.append(tick(i));
    await log.flush();
    ends.push(statSync(join(log.dir, SEGMENT)).size);
  }
  await store.close();
  return { dir: log.dir, ends, store };
}

async function reopen(store: CheckpointManager): Promise<{ store: CheckpointManager; log: EpisodeLog; repaired: unknown[]; errors: Error[] }> {
  const again = await open(store.dir, { logger: silent });
  const repaired: unknown[] = [];
  const errors: Error[] = [];
  onEvent(again, 'repaired', (e) => repaired.push(e));
  onEvent(again, 'error', (e) => errors.push(e));
  return { store: again, log: again.episodes('s'), repaired, errors };
}

/** The record equals tick(step) in every byte that matters. */
function isTick(r: StoredEpisode): boolean {
  const want = tick(r.step!);
  return r.time === want.time && sameBytes(r.frame!.columns.price as Float64Array, want.frame!.columns.price as Float64Array)
    && sameBytes(r.features!.obs as Float32Array, want.features!.obs as Float32Array)
    && JSON.stringify(r.frame!.columns.side) === JSON.stringify(want.frame!.columns.side) && JSON.stringify(r.context) === JSON.stringify(want.context);
}

describe('torn tail', () => {
  it('is cut back to the last whole record at every cut point, and appends go on after it', async () => {
    const { dir, ends, store } = await writeStream(6);
    const path = join(dir, SEGMENT);
    const whole = readFileSync(path);
    for (const cut of [ends[4] + 1, ends[4] + 15, ends[4] + 16, ends[4] + 40, ends[5] - 1]) {
      writeFileSync(path, whole.subarray(0, cut));
      const { store: s, log, repaired } = await reopen(store);
      expect(log.repairs).toEqual([expect.stringMatching(`segment 1: cut a torn tail of ${cut - ends[4]} bytes at byte ${ends[4]}`)]);
      expect(repaired).toMatchObject([{ stream: 's', repairs: log.repairs }]);
      expect(statSync(path).size).toBe(ends[4]);
      const records = await collect(log.replay());
      expect(records.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
      expect(records.every(isTick)).toBe(true);
      log.append(tick(9));
      await s.close();
      const { store: s2, log: log2 } = await reopen(store);
      expect(log2.repairs).toEqual([]);
      expect((await collect(log2.replay())).map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 9]);
      await s2.close();
      writeFileSync(path, whole);
    }
  });
});

describe('damage in the middle', () => {
  it('skips a damaged record in the open segment and reports it; its neighbours stay readable', async () => {
    const { dir, ends, store } = await writeStream(6);
    const path = join(dir, SEGMENT);
    const bytes = readFileSync(path);
    bytes[ends[2] + 30] ^= 0x04; // inside record 3 (step 3)
    writeFileSync(path, bytes);
    const { store: s, log, repaired } = await reopen(store);
    expect(log.repairs).toEqual([expect.stringContaining(`segment 1: skipped ${ends[3] - ends[2]} damaged bytes at byte ${ends[2]} (payload fails its checksum)`)]);
    expect(repaired.length).toBe(1);
    expect(log.stats().damaged).toBe(1);
    const records = await collect(log.replay());
    expect(records.map((r) => r.step)).toEqual([0, 1, 2, 4, 5]);
    expect(records.every(isTick)).toBe(true);
    await expect(log.get(4)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(isTick(await log.get(3))).toBe(true);
    expect(isTick(await log.get(5))).toBe(true);
    await s.close();
  });

  it('damage in a closed segment is found while reading: skipped, reported as E_CORRUPT, neighbours returned', async () => {
    const store = await freshStore(root);
    const log = store.episodes('s', { commitMs: 60_000, segmentBytes: 4096, indexBytes: 512 });
    for (let i = 0; i < 40; i++) {
      log.append(tick(i));
      await log.flush();
    }
    await store.close();
    const segments = readdirSync(log.dir).filter((f) => f.endsWith('.tkeps'));
    expect(segments.length).toBeGreaterThan(2);
    const path = join(log.dir, segments[0]);
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x80;
    writeFileSync(path, bytes);
    const { store: s, log: again, errors } = await reopen(store);
    expect(again.repairs).toEqual([]); // a closed segment with an intact index is not scanned at open
    const records = await collect(again.replay());
    expect(records.length).toBe(39);
    expect(records.every(isTick)).toBe(true);
    expect(errors).toMatchObject([{ code: 'E_CORRUPT', stream: 's', segment: 1 }]);
    expect(again.stats().damaged).toBe(1);
    await s.close();
  });

  it('no bit flip anywhere in a segment crashes an open or returns a wrong record', async () => {
    const { dir, store } = await writeStream(8, { indexBytes: 256 });
    const path = join(dir, SEGMENT);
    const whole = readFileSync(path);
    const random = rng(7);
    for (let trial = 0; trial < 60; trial++) {
      // Each trial starts from the one clean segment (a damaged header makes recovery close it and start another).
      for (const f of readdirSync(dir)) if (f !== SEGMENT && f !== 'LOCK') rmSync(join(dir, f), { recursive: true });
      const bytes = Buffer.from(whole);
      const at = Math.floor(random() * bytes.length);
      bytes[at] ^= 1 << Math.floor(random() * 8);
      writeFileSync(path, bytes);
      const { store: s, log } = await reopen(store);
      const records = await collect(log.replay());
      expect(records.every(isTick), `flip at byte ${at}`).toBe(true);
      expect(records.length, `flip at byte ${at}`).toBeGreaterThanOrEqual(at < 64 ? 8 : 7);
      await s.close();
      writeFileSync(path, whole);
    }
  });
});

describe('indexes and versions', () => {
  it('rebuilds a missing or damaged index of a closed segment from the segment', async () => {
    const store = await freshStore(root);
    const log = store.episodes('s', { commitMs: 60_000, segmentBytes: 4096 });
    for (let i = 0; i < 30; i++) {
      log.append(tick(i));
      await log.flush();
    }
    await store.close();
    const indexes = readdirSync(log.dir).filter((f) => f.endsWith('.tkidx')).sort();
    expect(indexes.length).toBeGreaterThan(1);
    rmSync(join(log.dir, indexes[0]));
    const second = join(log.dir, indexes[1]);
    writeFileSync(second, readFileSync(second).subarray(0, 20));
    const { store: s, log: again } = await reopen(store);
    expect(again.repairs).toEqual([
      'segment 1: index missing or unreadable; index rebuilt from the segment',
      'segment 2: index missing or unreadable; index rebuilt from the segment',
    ]);
    expect((await collect(again.replay())).map((r) => r.step)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await s.close();
    const { store: s2, log: third } = await reopen(store);
    expect(third.repairs).toEqual([]);
    await s2.close();
  });

  it('a segment of an unknown format version is E_VERSION, naming the version', async () => {
    const { dir, store } = await writeStream(2);
    const path = join(dir, SEGMENT);
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(2, 8);
    bytes.writeBigUInt64LE(BigInt(`0x${native.xxh3(bytes.subarray(0, 56))}`), 56);
    writeFileSync(path, bytes);
    const again = await open(store.dir, { logger: silent });
    expect(() => again.episodes('s')).toThrow(expect.objectContaining({ code: 'E_VERSION', message: expect.stringContaining('format version 2') }));
    await again.close();
  });

  it('one writer per stream (E_LOCKED); a read-only store reads and repairs nothing', async () => {
    const { dir, ends, store } = await writeStream(3);
    const first = await open(store.dir, { logger: silent });
    first.episodes('s');
    const second = await open(store.dir, { logger: silent });
    expect(() => second.episodes('s')).toThrow(expect.objectContaining({ code: 'E_LOCKED' }));
    await first.close();
    await second.close();
    const path = join(dir, SEGMENT);
    copyFileSync(path, `${path}.bak`);
    truncateSync(path, ends[2] - 3);
    const reader = await open(store.dir, { logger: silent, readOnly: true });
    const log = reader.episodes('s');
    expect(log.repairs).toEqual([]);
    expect((await collect(log.replay())).map((r) => r.step)).toEqual([0, 1]);
    expect(() => log.append(tick(5))).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    expect(statSync(path).size).toBe(ends[2] - 3); // not cut
    await reader.close();
    rmSync(`${path}.bak`);
  });
});
