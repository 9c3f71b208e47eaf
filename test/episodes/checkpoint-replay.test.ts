// A loaded checkpoint replays exactly the episodes it was trained on:
// model.load(x).episodes() (and resume) gives the records its
// meta.episodes references, bit for bit, in time order, and no others.
import { describe, expect, it } from 'vitest';
import { checkpointRefs, open, type EpisodeRecord, type StoredEpisode } from '../../src/index.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { expectThrowsCode, sameBytes, tempDir } from '../helpers.js';

const root = tempDir();

/** The record as replay gives it back, minus the stream and id it adds. */
function expectSame(got: StoredEpisode & { stream?: string }, want: EpisodeRecord): void {
  const { frame, features, ...head } = got;
  const { frame: wantFrame, features: wantFeatures, ...wantHead } = want;
  expect({ ...head, id: undefined, stream: undefined }).toEqual({ ...wantHead, id: undefined, stream: undefined });
  expect(Object.is(got.reward, want.reward)).toBe(true);
  const price = frame!.columns.price as Float64Array;
  expect(sameBytes(price, wantFrame!.columns.price as Float64Array)).toBe(true);
  expect(frame!.columns.side).toEqual(wantFrame!.columns.side);
  expect(sameBytes(features!.obs as Float32Array, wantFeatures!.obs as Float32Array)).toBe(true);
}

describe('replay of a checkpoint\'s episodes', () => {
  it('load(x).episodes() replays the referenced records bit-exact; resume and a reopened store too', async () => {
    const store = await freshStore(root);
    const log = store.episodes('ticks');
    const model = store.model('dqn');
    const records = Array.from({ length: 30 }, (_, i) => tick(i));
    records[12].reward = NaN;
    records[13].reward = -0;
    (records[14].frame!.columns.price as Float64Array)[1] = -0;
    // Appended out of time order: replay gives time order.
    for (const r of [...records].reverse()) log.append(r);
    log.append(tick(15, 'other')); // same time range, other model: not referenced
    const weights = { w: Float32Array.from([1, 2, 3]) };
    const first = await model.save(weights, { step: 1, meta: { episodes: log.ref({ from: 10, to: 19, model: 'dqn' }) } });
    await model.save(weights, { step: 2, meta: { episodes: [log.ref({ to: 2, model: 'dqn' }), log.ref({ from: 28, model: 'dqn' })] } });
    const want = (times: number[]) => times.map((t) => records[t]);

    const loaded = await model.load(first.seq!);
    const replayed = await collect(loaded.episodes());
    expect(replayed.map((r) => r.time)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    replayed.forEach((r, i) => expectSame(r, want([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])[i]));
    expect(new Set(replayed.map((r) => (r as StoredEpisode & { stream: string }).stream))).toEqual(new Set(['ticks']));

    // Several refs, each in time order; resume gives the same.
    const latest = [0, 1, 2, 28, 29];
    for (const ckpt of [await model.load('latest'), (await model.resume())!]) {
      const got = await collect(ckpt.episodes());
      expect(got.map((r) => r.time)).toEqual(latest);
      got.forEach((r, i) => expectSame(r, want(latest)[i]));
    }
    // The method is not data: a loaded checkpoint still compares and spreads as before.
    expect(Object.keys(loaded)).not.toContain('episodes');
    const dir = store.dir;
    await store.close();

    const again = await open(dir, { logger: silent });
    const reloaded = await again.model('dqn').load(first.seq!);
    expect((await collect(reloaded.episodes())).map((r) => r.time)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    await again.close();
  });

  it('a checkpoint without meta.episodes replays nothing; a malformed ref is E_BAD_INPUT', async () => {
    const store = await freshStore(root);
    const model = store.model('dqn');
    const plain = await model.save({ w: new Float32Array(2) }, { step: 1 });
    expect(await collect((await model.load(plain.seq!)).episodes())).toEqual([]);
    const bad = await model.save({ w: new Float32Array(2) }, { step: 2, meta: { episodes: { stream: '../x' } } });
    await expect(collect((await model.load(bad.seq!)).episodes())).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await store.close();
  });
});

describe('checkpointRefs', () => {
  it('reads meta.episodes as one ref or a list, in order; none without it', () => {
    expect(checkpointRefs(undefined)).toEqual([]);
    expect(checkpointRefs({})).toEqual([]);
    expect(checkpointRefs({ other: 1 })).toEqual([]);
    expect(checkpointRefs({ episodes: { stream: 'ticks', from: 10, to: 19, model: 'dqn' } })).toEqual([{ stream: 'ticks', from: 10, to: 19, model: 'dqn' }]);
    expect(checkpointRefs({ episodes: [{ stream: 'b', to: 2 }, { stream: 'a', from: 28 }, { stream: 'a' }] }))
      .toEqual([{ stream: 'b', to: 2 }, { stream: 'a', from: 28 }, { stream: 'a' }]);
    expect(checkpointRefs({ episodes: [] })).toEqual([]);
  });

  it('refuses a malformed ref with E_BAD_INPUT naming where it is', () => {
    expectThrowsCode(() => checkpointRefs({ episodes: { stream: '../x' } }), 'E_BAD_INPUT');
    expectThrowsCode(() => checkpointRefs({ episodes: { from: 1 } }), 'E_BAD_INPUT');
    expectThrowsCode(() => checkpointRefs({ episodes: [{ stream: 'a' }, null] }), 'E_BAD_INPUT');
    expectThrowsCode(() => checkpointRefs({ episodes: [{ stream: 'a' }, { stream: 'b', from: 'x' }] }), 'E_BAD_INPUT', 'meta.episodes[1].from');
    expectThrowsCode(() => checkpointRefs({ episodes: { stream: 'a', to: Number.NaN } }), 'E_BAD_INPUT', 'meta.episodes.to');
    expectThrowsCode(() => checkpointRefs({ episodes: 'ticks' }), 'E_BAD_INPUT');
  });
});
