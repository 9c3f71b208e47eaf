// Segments and the sparse time index: segments close at their size limit
// with an index beside them, and a time-range, model or id query reads only
// the segments and index blocks that can hold what it wants (counted by
// stats().reads, never timed).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { tempDir } from '../helpers.js';

const root = tempDir();
const SEGMENT_BYTES = 8192;

/** 300 records, time = step, model "a" for the first half and "b" after, committed 10 at a time. */
async function bigStream() {
  const store = await freshStore(root);
  const log = store.episodes('big', { commitMs: 60_000, segmentBytes: SEGMENT_BYTES, indexBytes: 1024 });
  for (let i = 0; i < 300; i++) {
    log.append(tick(i, i < 150 ? 'a' : 'b'));
    if (i % 10 === 9) await log.flush();
  }
  return { store, log };
}

const delta = (before: { segments: number; blocks: number; bytes: number }, after: typeof before) => ({
  segments: after.segments - before.segments, blocks: after.blocks - before.blocks, bytes: after.bytes - before.bytes,
});

describe('segments', () => {
  it('close at the size limit, each with its index; the open one has none', async () => {
    const { store, log } = await bigStream();
    const files = readdirSync(log.dir);
    const segments = files.filter((f) => f.endsWith('.tkeps')).sort();
    const indexes = files.filter((f) => f.endsWith('.tkidx')).sort();
    expect(segments.length).toBeGreaterThan(4);
    expect(indexes).toEqual(segments.slice(0, -1).map((f) => f.replace('.tkeps', '.tkidx')));
    for (const f of segments.slice(0, -1)) {
      const size = statSync(join(log.dir, f)).size;
      expect(size).toBeGreaterThanOrEqual(SEGMENT_BYTES);
      expect(size).toBeLessThan(SEGMENT_BYTES + 10 * 1024); // past the limit by at most one commit
    }
    expect(log.stats()).toMatchObject({ segments: segments.length, records: 300, firstId: 1, lastId: 300, minTime: 0, maxTime: 299 });
    await store.close();
  });
});

describe('queries read only what they need', () => {
  it('a time range reads the segments and blocks around it, not the stream', async () => {
    const { store, log } = await bigStream();
    const total = log.stats();
    const before = log.stats().reads;
    const records = await collect(log.replay({ from: 200, to: 209 }));
    expect(records.map((r) => r.step)).toEqual([200, 201, 202, 203, 204, 205, 206, 207, 208, 209]);
    const read = delta(before, log.stats().reads);
    expect(read.segments).toBeLessThanOrEqual(2);
    expect(read.blocks).toBeLessThanOrEqual(6);
    expect(read.bytes).toBeLessThan(total.bytesOnDisk / 20);
    // The whole stream, for comparison, reads every block once.
    const all = log.stats().reads;
    expect((await collect(log.replay())).length).toBe(300);
    expect(delta(all, log.stats().reads).segments).toBe(total.segments);
    await store.close();
  });

  it('a model filter skips the blocks that hold only other models', async () => {
    const { store, log } = await bigStream();
    const before = log.stats().reads;
    const records = await collect(log.replay({ model: 'b' }));
    expect(records.length).toBe(150);
    expect(records.every((r) => r.model === 'b')).toBe(true);
    const read = delta(before, log.stats().reads);
    expect(read.bytes).toBeLessThan(log.stats().bytesOnDisk * 0.6);
    await store.close();
  });

  it('get(id) reads one block; the index survives a reopen without a rescan', async () => {
    const { store, log } = await bigStream();
    await store.close();
    const again = await open(store.dir, { logger: silent });
    const reopened = again.episodes('big');
    expect(reopened.repairs).toEqual([]);
    const before = reopened.stats().reads;
    const r = await reopened.get(123);
    expect(r.step).toBe(122);
    expect(delta(before, reopened.stats().reads)).toMatchObject({ segments: 1, blocks: 1 });
    expect(reopened.stats()).toMatchObject({ records: 300, segments: log.stats().segments });
    await again.close();
  });
});
