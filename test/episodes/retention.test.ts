// Retention of episode segments (keep.episodes): whole closed segments go,
// oldest first, past maxBytes or maxAgeDays; the open segment and every
// segment holding a time that a kept checkpoint references (meta.episodes)
// stay, and a checkpoint replays exactly the episodes it references.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { open, type CheckpointManager, type EpisodeLog } from '../../src/index.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { tempDir } from '../helpers.js';

const root = tempDir();
const SEGMENT_BYTES = 4096;
afterEach(() => vi.useRealTimers());

async function appendRange(log: EpisodeLog, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    log.append(tick(i));
    if (i % 5 === 4) await log.flush();
  }
  await log.flush();
}

const steps = async (log: EpisodeLog, query = {}) => (await collect(log.replay(query))).map((r) => r.step!);
const segmentFiles = (log: EpisodeLog) => readdirSync(log.dir).filter((f) => f.endsWith('.tkeps')).length;

describe('keep.episodes', () => {
  it('maxBytes drops the oldest closed segments, never the open one', async () => {
    const store = await freshStore(root, { keep: { episodes: { maxBytes: 4 * SEGMENT_BYTES } } });
    const log = store.episodes('ticks', { commitMs: 60_000, segmentBytes: SEGMENT_BYTES });
    await appendRange(log, 0, 400);
    const stats = log.stats();
    expect(stats.dropped.segments).toBeGreaterThan(3);
    expect(stats.bytesOnDisk).toBeLessThanOrEqual(4 * SEGMENT_BYTES + SEGMENT_BYTES + 4096);
    expect(segmentFiles(log)).toBe(stats.segments);
    const kept = await steps(log);
    expect(kept.at(-1)).toBe(399);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 400 - kept.length + i)); // a suffix: oldest went first
    await store.close();
  });

  it('never drops a segment a kept checkpoint references; drops it once that checkpoint is evicted', async () => {
    const store = await freshStore(root, { keep: { periodic: 1, best: 0 } });
    const log = store.episodes('ticks', { commitMs: 60_000, segmentBytes: SEGMENT_BYTES, keep: { maxBytes: 3 * SEGMENT_BYTES } });
    await appendRange(log, 0, 30);
    expect(log.stats().dropped.segments).toBe(0);
    const model = store.model('trader');
    const weights = { w: new Float32Array(16) };
    await model.save(weights, { step: 1, category: 'periodic', meta: { episodes: log.ref({ from: 10, to: 20 }) } });
    await appendRange(log, 30, 400);
    expect(log.stats().dropped.segments).toBeGreaterThan(3);
    expect(await steps(log, { from: 10, to: 20 })).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const loaded = await model.load('latest');
    const replayed = [];
    for await (const r of loaded.episodes()) replayed.push([r.stream, r.step]);
    expect(replayed).toEqual(Array.from({ length: 11 }, (_, i) => ['ticks', 10 + i]));
    // A newer periodic checkpoint evicts the referencing one; the next segment roll frees its episodes.
    await model.save(weights, { step: 2, category: 'periodic' });
    expect(model.list().map((c) => c.step)).toEqual([2]);
    await appendRange(log, 400, 460);
    expect(await steps(log, { from: 10, to: 20 })).toEqual([]);
    await store.close();
  });

  it('maxAgeDays drops closed segments whose last write is older, at a roll and at open; a wall-clock jump drops nothing', async () => {
    // vi.setSystemTime moves only the wall clock; advanceTimersByTime is time passing.
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const t0 = Date.UTC(2026, 0, 1);
    vi.setSystemTime(t0);
    let store: CheckpointManager = await freshStore(root, { keep: { episodes: { maxAgeDays: 2 } } });
    const log = store.episodes('ticks', { commitMs: 60_000, segmentBytes: SEGMENT_BYTES });
    await appendRange(log, 0, 100);
    const before = log.stats().segments;
    expect(before).toBeGreaterThan(3);
    expect(log.stats().dropped.segments).toBe(0);
    vi.setSystemTime(t0 + 30 * 86_400_000);
    await appendRange(log, 100, 120); // rolls, but within the process only real time ages a segment
    expect(log.stats().dropped.segments).toBe(0);
    const beforeAging = log.stats().segments;
    expect(beforeAging).toBeGreaterThan(before);
    vi.setSystemTime(t0);
    vi.advanceTimersByTime(3 * 86_400_000);
    await appendRange(log, 120, 140); // rolls at least once: everything closed on day 0 goes
    const oldest = (await steps(log))[0];
    expect(log.stats().dropped.segments).toBe(beforeAging - 1);
    expect(oldest).toBeGreaterThan(50);
    await store.close();
    vi.setSystemTime(t0 + 10 * 86_400_000);
    store = await open(store.dir, { logger: silent, keep: { episodes: { maxAgeDays: 2 } } });
    const again = store.episodes('ticks');
    await again.flush(); // retention at open runs off the event loop; flush() waits for it
    expect(again.stats().segments).toBe(1); // only the open segment is left
    expect(again.stats().dropped.segments).toBeGreaterThan(0);
    await store.close();
  });
});
